"""Spread and rate limits per integration type, against real workers and a real endpoint: a request
budget that every worker shares, a 429 that holds the whole type, fairness across organizations
under a budget, and a spread of the runs of one period."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from endpoint import Endpoint, Reply, Request
from harness import WorkerProcess, point_types_at, schedule_due, wait_for
from syncsched import db

# A poll longer than any of these tests: what waits on a window, a Retry-After or a backoff goes when
# it may (next_claim_at), not at the next poll.
WAKE_ON_TIME = ("--poll-interval", "10m")


def completed(conn: db.Connection) -> int:
    return int(db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'completed'"))


def worst_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any `window` seconds."""
    times = sorted(times)
    worst, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        worst = max(worst, last - first + 1)
    return worst


def test_a_budget_holds_across_three_workers(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        db.execute(
            conn,
            "update syncsched.integration_types set rate_limit = 30, rate_window = '4 seconds', max_concurrency = 100"
            " where integration_type = 'xledger'",
        )
        schedule_due(conn, 120)
        for _ in range(3):
            workers("--concurrency", "40", *WAKE_ON_TIME)
        used = wait_for(
            lambda: db.fetch_value(
                conn, "select requests_in_window from syncsched.endpoint_overview where integration_type = 'xledger'"
            ),
            30,
            "requests counted",
        )
        assert 0 < used <= 30
        wait_for(lambda: completed(conn) == 120, 90, "all 120 runs completed")
        arrivals = [r.started for r in endpoint.requests] + [p.started for p in endpoint.probes]
    # every request the endpoint saw (runs, health checks, warm-ups) within the budget, in every window
    worst = worst_window(arrivals, 4.0)
    print(f"\nbudget 30 per 4 s: at most {worst} requests in any 4 s at the endpoint, {len(arrivals)} in all")
    assert worst <= 30, f"{worst} requests within 4 s"
    # waiting for the budget spends no attempt: every run done at its first
    assert db.fetch_value(conn, "select max(attempt) from syncsched.sync_run_log") == 1
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts") == 120


def test_a_429_holds_every_run_of_the_type(conn: db.Connection, workers: Callable[..., WorkerProcess]) -> None:
    def behaviour(_request: Request, n: int) -> Reply:
        return Reply(status=429, headers={"Retry-After": "5"}) if n == 0 else Reply()

    with Endpoint(behaviour) as endpoint:
        point_types_at(conn, endpoint)
        db.execute(
            conn, "update syncsched.integration_types set max_concurrency = 1 where integration_type = 'xledger'"
        )
        schedule_due(conn, 10)
        workers("--concurrency", "5", *WAKE_ON_TIME)
        workers("--concurrency", "5", *WAKE_ON_TIME)
        wait_for(lambda: db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts") == 1, 30, "the 429")
        held = db.fetch_one(
            conn,
            "select e.rate_limited_until is not null as limited, count(*) filter (where o.held_reason like"
            " 'rate limited (429) until %%') as held from syncsched.endpoint_overview as e"
            " join syncsched.schedule_overview as o using (integration_type)"
            " where e.integration_type = 'xledger' group by 1",
        )
        assert held == {"limited": True, "held": 10}, "the overview says why every run waits"
        wait_for(lambda: completed(conn) == 10, 60, "all 10 runs completed")
        first, second = endpoint.requests[0], endpoint.requests[1]
        probes = [p.started for p in endpoint.probes if p.path == "/xledger"]
    assert second.started - first.finished >= 4.9, "no request of the type within the Retry-After, from any worker"
    assert not [at for at in probes if first.finished < at < first.finished + 4.9], "nor a health check or warm-up"
    assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_alerts where kind = 'rate_limited'") == 1
    # the answered run was retried after it, its attempt counted
    assert db.fetch_value(conn, "select max(attempt) from syncsched.sync_run_log") == 2


def test_a_budget_goes_round_robin_across_organizations(
    conn: db.Connection, workers: Callable[..., WorkerProcess]
) -> None:
    with Endpoint() as endpoint:
        point_types_at(conn, endpoint)
        db.execute(
            conn,
            "update syncsched.integration_types set rate_limit = 30, rate_window = '4 seconds', max_concurrency = 100"
            " where integration_type = 'xledger'",
        )
        db.execute(
            conn,
            """
            insert into syncsched.organization_integrations (org_id, integration_id, integration_type, interval_minutes)
            select 'small' || lpad(g::text, 2, '0'), 'i', 'xledger', 60 from generate_series(1, 20) as g
            union all select 'big', 'i', 'xledger', 60
            """,
        )
        db.execute(
            conn,
            """
            insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for,
                idempotency_key, trigger, max_attempts, enqueued_at)
            select 'big', 'i', 'xledger', now() - g * interval '1 minute', 'big/i/' || g, 'schedule', 3,
                now() - interval '1 hour'
            from generate_series(1, 100) as g
            union all
            select org_id, 'i', 'xledger', now(), org_id || '/i/1', 'schedule', 3, now()
            from syncsched.organization_integrations where org_id like 'small%%'
            """,
        )
        workers("--concurrency", "30", *WAKE_ON_TIME)
        workers("--concurrency", "30", *WAKE_ON_TIME)
        wait_for(lambda: completed(conn) == 120, 90, "all 120 runs completed")
        first_30 = {r.body["org_id"] for r in sorted(endpoint.requests, key=lambda r: r.started)[:30]}
    assert {f"small{n:02d}" for n in range(1, 21)} <= first_30, "every small organization within the first budget"


def spread_offset(seed: str, spread_seconds: int) -> int:
    """The README's rule, written again: the first 4 bytes of SHA-256 of '<seed>#0.0' modulo the spread."""
    return int.from_bytes(hashlib.sha256(f"{seed}#0.0".encode()).digest()[:4], "big") % spread_seconds


def test_a_spread_starts_each_integration_at_its_own_offset(conn: db.Connection) -> None:
    db.execute(conn, "update syncsched.integration_types set spread = '10 minutes' where integration_type = 'xledger'")
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)"
        " select 'org' || g, 'ledger', case when g <= 300 then 'xledger' else 'dynamics' end, '0 2 * * *'"
        " from generate_series(1, 400) as g",
    )
    period = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
    db.execute(conn, "update syncsched.schedule_state set next_run_at = %s", (period,))
    db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (period + timedelta(seconds=1),))
    rows = db.fetch_all(
        conn, "select org_id, integration_type, scheduled_for, not_before, enqueued_at from syncsched.sync_run_log"
    )
    assert len(rows) == 400 and all(r["scheduled_for"] == period for r in rows), "the period is the key, as always"
    # the tick served 02:00:01: each run waits what is left of its offset then (on the workers' clock)
    for r in rows:
        if r["integration_type"] == "xledger":
            left = max(spread_offset(f"{r['org_id']}/ledger", 600) - 1, 0)
            assert r["not_before"] == r["enqueued_at"] + timedelta(seconds=left), r
        else:
            assert r["not_before"] == r["enqueued_at"], "a type without a spread starts at once"
    offsets = [
        (r["not_before"] - r["enqueued_at"]).total_seconds() + 1 for r in rows if r["integration_type"] == "xledger"
    ]
    per_minute = [sum(1 for o in offsets if m * 60 <= o < (m + 1) * 60) for m in range(10)]
    assert min(per_minute) > 0 and max(per_minute) <= 1.6 * 30, per_minute


def test_a_spread_longer_than_a_schedule_stays_within_half_its_period(conn: db.Connection) -> None:
    """A run still waiting for its offset at its integration's next period would make that period an
    overlap (skipped): the offset stays within half the way to the next period."""
    db.execute(conn, "update syncsched.integration_types set spread = '1 hour' where integration_type = 'xledger'")
    db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
    db.execute(
        conn,
        "insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)"
        " select 'org' || g, 'quarterly', 'xledger', '*/15 * * * *' from generate_series(1, 200) as g",
    )
    period = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
    db.execute(conn, "update syncsched.schedule_state set next_run_at = %s", (period,))
    db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (period,))
    waits = [
        r["wait"].total_seconds()
        for r in db.fetch_all(conn, "select not_before - enqueued_at as wait from syncsched.sync_run_log")
    ]
    assert len(waits) == 200
    assert max(waits) < 450 and max(waits) > 300, "spread over half the quarter hour, no further"


def test_runs_that_wait_for_a_warm_up_count_against_the_budget_as_late_as_they_may_go(conn: db.Connection) -> None:
    """A claim's runs wait for their endpoint's warm-up (up to warmup_timeout) before they go: counted at
    the claim only, the next window's requests could reach the endpoint within the same window. Once
    the warm-up is done they go, and count from then (not warmup_timeout later: a budget spent for
    nothing)."""
    db.execute(
        conn,
        "update syncsched.integration_types set rate_limit = 100, rate_window = '1 minute'"
        " where integration_type = 'xledger'",
    )
    schedule_due(conn, 3)
    db.execute(conn, "update syncsched.endpoint_health set last_used_at = null")  # idle: the claim warms it up
    claimed = db.fetch_all(conn, "select warmup from syncsched.claim_runs('w', 3)")
    assert [r["warmup"] for r in claimed] == [True] * 3
    (entry,) = db.fetch_all(
        conn, "select requests, extract(epoch from at - now())::int as later from syncsched.request_ledger"
    )
    assert entry == {"requests": 4, "later": 30}, "the runs and their warm-up, counted warmup_timeout (30 s) late"
    assert (
        db.fetch_value(
            conn, "select requests_in_window from syncsched.endpoint_overview where integration_type = 'xledger'"
        )
        == 4
    )
    later = "select extract(epoch from at - now())::int from syncsched.request_ledger"
    db.execute(conn, "select syncsched.record_warmup('xledger', true, 40)")  # a pre-warm's: no runs wait for it
    assert db.fetch_value(conn, later) == 30
    db.execute(conn, "select syncsched.record_warmup('xledger', true, 40, null, true)")
    assert db.fetch_value(conn, later) <= 0, "the claim's warm-up is done: its runs go now, and count from now"
