"""Faults of the primary and of a worker's lease.

A run whose worker lost its lease mid-call: its late completion is taken while no other claim has
the run, and a claim of it while its first worker may still be calling is a possible_duplicate
alert. A primary killed mid-minute and its streaming standby promoted: no period lost, no run left
behind, no export called twice that the fault does not explain."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import autofailover
from endpoint import Endpoint, Reply
from harness import WorkerProcess, point_types_at, schedule_due, set_next_run, wait_for
from syncsched import db, localpg
from syncsched.migrate import migrate
from syncsched.worker import REAP_PAUSE_AFTER_OUTAGE


def claim(conn: db.Connection, worker: str) -> dict[str, Any]:
    (run,) = db.fetch_all(conn, "select run_id, lease_token, attempt from syncsched.claim_runs(%s, 1)", (worker,))
    return run


def lose_lease(conn: db.Connection, run_id: int) -> None:
    """The run's lease expires (its worker cut off from the database) and the reaper takes it back."""
    db.execute(
        conn,
        "update syncsched.sync_run_log set lease_expires_at = now() - interval '1 second' where run_id = %s",
        (run_id,),
    )
    assert db.fetch_value(conn, "select syncsched.reap_expired_runs()") == 1


def complete(conn: db.Connection, run: dict[str, Any], worker: str) -> bool:
    return bool(
        db.fetch_value(
            conn,
            "select syncsched.complete_run(%s, %s, 200, 'late', %s)",
            (run["run_id"], run["lease_token"], worker),
        )
    )


def alerts(conn: db.Connection, kind: str) -> list[dict[str, Any]]:
    return db.fetch_all(
        conn, "select alert_key, detail from syncsched.scheduler_alerts where kind = %s order by alert_id", (kind,)
    )


def test_a_late_completion_is_taken_while_the_run_is_not_claimed_again(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    run = claim(conn, "w1")
    lose_lease(conn, run["run_id"])
    assert complete(conn, run, "w1"), "the reaped run was not claimed again: its outcome is taken"
    row = db.fetch_one(conn, "select status::text, attempt, response_excerpt from syncsched.sync_run_log")
    assert row == {"status": "completed", "attempt": 1, "response_excerpt": "late"}
    attempts = db.fetch_all(conn, "select attempt, outcome, worker_id, error from syncsched.sync_run_attempts")
    assert attempts == [
        {
            "attempt": 1,
            "outcome": "completed",
            "worker_id": "w1",
            "error": "completed: the outcome was written after the lease expired",
        }
    ]
    assert db.fetch_all(conn, "select run_id from syncsched.claim_runs('w2', 1)") == [], "nothing left to call again"
    assert alerts(conn, "stale_write") == [] and alerts(conn, "possible_duplicate") == []


def test_a_late_completion_of_a_last_attempt_turns_failed_into_completed(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=1)
    run = claim(conn, "w1")
    lose_lease(conn, run["run_id"])
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "failed"
    assert db.fetch_value(conn, "select count(*) from syncsched.scheduler_alerts where kind = 'failing' and is_open")
    assert complete(conn, run, "w1")
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "completed"
    assert not db.fetch_value(
        conn, "select count(*) from syncsched.scheduler_alerts where kind = 'failing' and is_open"
    ), "the completion resolves the failing alert"


def test_a_run_claimed_again_after_a_lost_lease_is_a_possible_duplicate(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    first = claim(conn, "w1")
    lose_lease(conn, first["run_id"])
    second = claim(conn, "w2")
    assert second["run_id"] == first["run_id"] and second["attempt"] == 2
    (alert,) = alerts(conn, "possible_duplicate")
    key = db.fetch_value(conn, "select idempotency_key from syncsched.sync_run_log")
    assert alert["alert_key"] == "possible_duplicate:org1/ledger"
    assert alert["detail"]["idempotency_key"] == key
    assert (alert["detail"]["lost_by"], alert["detail"]["claimed_by"]) == ("w1", "w2")
    assert (
        f"(Idempotency-Key {key}) claimed again by worker w2 after worker w1 lost its lease"
        in (alert["detail"]["problem"])
    )
    # the first worker's outcome now comes too late: the second claim holds the run
    assert not complete(conn, first, "w1")
    assert db.fetch_value(conn, "select status::text from syncsched.sync_run_log") == "running"
    assert complete(conn, second, "w2")


def test_a_run_given_back_or_failed_is_claimed_again_without_an_alert(conn: db.Connection) -> None:
    schedule_due(conn, max_attempts=3)
    run = claim(conn, "w1")
    assert db.fetch_value(conn, "select syncsched.release_run(%s, %s, 'w1')", (run["run_id"], run["lease_token"]))
    run = claim(conn, "w2")
    failed = "select syncsched.fail_run(%s, %s, 'HTTP 503', 503, true, null, 'w2')"
    assert db.fetch_value(conn, failed, (run["run_id"], run["lease_token"]))
    db.execute(conn, "update syncsched.sync_run_log set not_before = now()")  # its backoff over
    assert claim(conn, "w3")["attempt"] == 3
    assert alerts(conn, "possible_duplicate") == []
    assert not complete(conn, run, "w2"), "a token given up with its attempt is no longer taken"


# --- a primary killed mid-minute, its streaming standby promoted ---------------------------------

POLICIES = ("run_once", "catch_up", "skip")
UNFINISHED = "select count(*) from syncsched.sync_run_log where status in ('pending', 'running')"
# seconds between the primary's death and the standby's promotion
# (longer than the workers' lease: their calls in flight end while it is away, and the leases too)
OUTAGE = float(os.environ.get("SYNCSCHED_FAILOVER_OUTAGE", "8"))
FINISHED_OF_PERIOD = (
    "select count(*) from syncsched.sync_run_log where scheduled_for = %s and status in ('completed', 'failed')"
)
PER_POLICY = 70  # 210 integrations on * * * * *


@dataclass
class Pair:
    """A primary, its streaming standby, two workers on a multi-host DSN, and an endpoint."""

    name: str
    primary: localpg.LocalCluster | autofailover.Node
    standby: localpg.LocalCluster | autofailover.Node
    endpoint: Endpoint
    promotes_itself: bool = False  # pg_auto_failover's monitor promotes it; else pg_ctl promote
    workers: list[WorkerProcess] = field(default_factory=list)
    killed_at: float = 0.0
    promoted_at: float = 0.0

    @property
    def dsn(self) -> str:
        """Both servers; only the one that accepts writes will do."""
        return (
            f"host=127.0.0.1,127.0.0.1 port={self.primary.port},{self.standby.port} user=postgres"
            f" dbname={self.primary.dbname} target_session_attrs=read-write"
        )


@contextmanager
def replicated_pair(name: str, tmp_path: Path, synchronous: bool) -> Iterator[Pair]:
    """A primary and its `pg_basebackup -R` standby, promoted by hand."""
    with localpg.throwaway(durable=True) as primary, Endpoint(lambda _r, _n: Reply(delay=2.0)) as endpoint:
        standby = primary.standby(tmp_path / f"{name}-standby")
        if synchronous:  # once the standby is there: every commit waits for it from now on
            with db.connect(primary.dsn()) as conn:
                db.execute(conn, "alter system set synchronous_standby_names = '*'")
                db.execute(conn, "select pg_reload_conf()")
                sync = "select count(*) from pg_stat_replication where sync_state = 'sync'"
                wait_for(lambda: db.fetch_value(conn, sync) == 1, 30, "the standby to be synchronous")
        try:
            yield from populated(Pair(name, primary, standby, endpoint), tmp_path)
        finally:
            standby.destroy()


@contextmanager
def auto_failover_pair(tmp_path: Path) -> Iterator[Pair]:
    """The production shape: a pg_auto_failover monitor and two nodes (synchronous, its default for
    two), the secondary promoted by the monitor."""
    with autofailover.formation() as (primary, secondary), Endpoint(lambda _r, _n: Reply(delay=2.0)) as endpoint:
        yield from populated(Pair("auto", primary, secondary, endpoint, promotes_itself=True), tmp_path)


def populated(pair: Pair, tmp_path: Path) -> Iterator[Pair]:
    """The pair migrated, 210 integrations on * * * * *, the tick in pg_cron, two workers running."""
    try:
        migrate(pair.primary.dsn())
        with db.connect(pair.primary.dsn()) as conn:
            db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
            point_types_at(conn, pair.endpoint)
            db.execute(conn, "update syncsched.integration_types set max_concurrency = 100")
            db.execute(
                conn,
                "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
                " cron_schedule, misfire_policy, max_attempts)"
                " select 'org' || g, p.policy, 'xledger', '* * * * *', p.policy::syncsched.misfire_policy, 5"
                " from unnest(%s::text[]) as p (policy) cross join generate_series(1, %s) as g",
                (list(POLICIES), PER_POLICY),
            )
            # no period before the test's own tick: pg_cron's tick at a minute's start would run them
            # all before the kill (a minute's calls end within 10 s), leaving nothing in flight
            set_next_run(conn, datetime.now(UTC) + timedelta(days=1))
            db.fetch_value(conn, "select syncsched.install_cron('* * * * *')")
        pair.workers = [
            WorkerProcess(
                pair.dsn,
                tmp_path / f"{pair.name}-worker{n}.log",
                "--concurrency",
                "25",
                "--lease",
                "5s",
                "--worker-id",
                f"{pair.name}-w{n}",
            )
            for n in (1, 2)
        ]
        yield pair
    finally:
        for worker in pair.workers:
            worker.stop()


def kill_and_promote(pairs: list[Pair], minute: datetime) -> None:
    """Kill each primary once 20 calls of the minute's runs are in flight there, unanswered (and
    most of its runs are still pending: each pair is watched on its own, or the first could finish
    the minute while the others start); the monitor promotes its secondary when it sees fit, the
    standbys promoted by hand wait OUTAGE s after their own kill."""
    key = f"/{minute:%Y-%m-%dT%H:%MZ}"
    waiting = list(pairs)
    deadline = time.monotonic() + 90
    while waiting:
        for pair in list(waiting):
            calls = [r for r in pair.endpoint.requests if r.body.get("idempotency_key", "").endswith(key)]
            if sum(not r.finished for r in calls) >= 20:
                pair.killed_at = time.time()
                pair.primary.stop("immediate")
                waiting.remove(pair)
        assert time.monotonic() < deadline, f"no calls of {minute:%H:%M} in flight at {[p.name for p in waiting]}"
        time.sleep(0.02)
    for pair in sorted(pairs, key=lambda p: not p.promotes_itself):
        if not pair.promotes_itself:
            time.sleep(max(0.0, pair.killed_at + OUTAGE - time.time()))
        pair.standby.promote()
        pair.promoted_at = time.time()


def notable(worker: WorkerProcess) -> list[str]:
    """The worker's log without its lines of every run and alert: what it met and did."""
    routine = (" running: ", " completed", "alert skipped", "alert missed", "lease lost")
    return [line for line in worker.output().splitlines() if not any(r in line for r in routine)][:60]


def reaped_while_away(worker: WorkerProcess) -> list[str]:
    """The worker's reaps from its LISTEN connection's loss until REAP_PAUSE_AFTER_OUTAGE after it
    was back: runs whose outcome another worker keeps would be claimed, and called, again."""
    away: tuple[datetime, datetime | None] | None = None
    found = []
    for line in worker.output().splitlines():
        try:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            continue
        if "LISTEN connection lost" in line and away is None:
            away = (at, None)
        elif "database back" in line and away is not None:
            away = (away[0], at + timedelta(seconds=REAP_PAUSE_AFTER_OUTAGE))
        elif "whose lease expired taken back" in line and away is not None and (away[1] is None or at < away[1]):
            found.append(line)
    return found


def accounting(pair: Pair, periods: list[datetime]) -> dict[str, Any]:
    """What the fault cost, from the new primary's tables and the endpoint's own record."""
    with db.connect(pair.standby.dsn()) as conn:
        runs = {
            (r["org_id"], r["integration_id"], r["scheduled_for"])
            for r in db.fetch_all(conn, "select org_id, integration_id, scheduled_for from syncsched.sync_run_log")
        }
        excused = set()
        for alert in db.fetch_all(
            conn,
            "select kind, org_id, integration_id, detail from syncsched.scheduler_alerts"
            " where kind in ('missed', 'skipped_overlap')",
        ):
            for period in periods:
                d = alert["detail"]
                listed = alert["kind"] == "skipped_overlap" and period.isoformat() in [
                    datetime.fromisoformat(p).isoformat() for p in d["periods"]
                ]
                within = alert["kind"] == "missed" and datetime.fromisoformat(d["first"]) <= period <= (
                    datetime.fromisoformat(d["last"])
                )
                if listed or within:
                    excused.add((alert["org_id"], alert["integration_id"], period))
        non_final = db.fetch_value(
            conn, "select count(*) from syncsched.sync_run_log where status not in ('completed', 'failed', 'cancelled')"
        )
        resumed = db.fetch_value(
            conn,
            "select extract(epoch from min(started_at))::float8 from syncsched.sync_run_attempts"
            " where started_at > to_timestamp(%s)",
            (pair.killed_at,),  # (claims on the new primary: pg_ctl promote may return after the first)
        )
    wanted = {
        (f"org{g}", policy, period) for policy in POLICIES for g in range(1, PER_POLICY + 1) for period in periods
    }
    first_call: dict[str, float] = {}
    calls: dict[str, int] = {}
    for request in pair.endpoint.requests:
        key = request.body["idempotency_key"]
        calls[key] = calls.get(key, 0) + 1
        first_call.setdefault(key, request.started)
    killed = time.monotonic() - (time.time() - pair.killed_at)  # the kill on the endpoint's clock
    twice = [key for key, n in calls.items() if n > 1]
    return {
        "unaccounted": sorted(wanted - runs - excused),
        "without_run_catch_up": sorted(p for p in wanted - runs if p[1] == "catch_up"),
        "non_final": non_final,
        "explained_duplicates": [key for key in twice if first_call[key] < killed],
        "unexplained_duplicates": [key for key in twice if first_call[key] >= killed],
        "claims_resumed_after": None if resumed is None else resumed - pair.promoted_at,
        "reaped_while_away": [line for worker in pair.workers for line in reaped_while_away(worker)],
        "outage": pair.promoted_at - pair.killed_at,
    }


@pytest.mark.slow
def test_a_primary_killed_mid_minute_loses_no_period_and_calls_no_export_twice_unexplained(tmp_path: Path) -> None:
    """Three pairs side by side, 210 integrations on * * * * * under each misfire policy, two
    workers each on a multi-host DSN: async and sync streaming replication with the standby promoted
    by hand OUTAGE s after the kill (8: longer than the workers' 5 s lease), and pg_auto_failover
    (a monitor and two nodes, synchronous) promoting its secondary itself. Each primary is killed
    while the minute's calls are in flight (pg_ctl stop -m immediate; under pg_auto_failover its
    keeper dies with it). pg_cron ticks on the new primary at the next minute without anyone
    reinstalling it; the workers find it themselves. (`make soak FAILOVER=1`: the outage measured in
    the issue, 76 s, across a minute that no server ticks.)"""
    with ExitStack() as stack:
        pairs = [
            stack.enter_context(replicated_pair("async", tmp_path, synchronous=False)),
            stack.enter_context(replicated_pair("sync", tmp_path, synchronous=True)),
        ]
        if (missing := autofailover.available()) is None:
            pairs.append(stack.enter_context(auto_failover_pair(tmp_path)))
        else:
            warnings.warn(f"the pg_auto_failover pair is left out: {missing}", stacklevel=1)
        # the minute under way is due now (rather than waiting for the next one): ticked, then killed;
        # early enough in it that its runs are done before the next (else that one is an overlap)
        now = datetime.now(UTC)
        if now.second > 25:
            time.sleep(61 - now.second - now.microsecond / 1e6)
        first = datetime.now(UTC).replace(second=0, microsecond=0)
        for pair in pairs:
            with db.connect(pair.primary.dsn()) as conn:
                set_next_run(conn, first)
                db.execute(conn, "call syncsched.tick()")
        kill_and_promote(pairs, first)
        # the new primary's first tick, and every run final
        last = datetime.fromtimestamp(max(p.promoted_at for p in pairs), UTC).replace(second=0, microsecond=0)
        last += timedelta(minutes=1)
        for pair in pairs:
            with db.connect(pair.standby.dsn()) as conn:
                wait_for(
                    lambda: db.fetch_value(conn, FINISHED_OF_PERIOD, (last,)) == len(POLICIES) * PER_POLICY,
                    150,
                    f"{pair.name}: the new primary's tick of {last:%H:%M} and its runs",
                )
                wait_for(lambda: db.fetch_value(conn, UNFINISHED) == 0, 60 + OUTAGE, f"{pair.name}: every run final")
        minutes = int((last - first).total_seconds() // 60)
        results = {
            pair.name: accounting(pair, [first + timedelta(minutes=m) for m in range(minutes + 1)]) for pair in pairs
        }
    print({name: {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()} for name, r in results.items()})
    for name, result in results.items():
        assert result["unaccounted"] == [], name
        assert result["without_run_catch_up"] == [], name
        assert result["non_final"] == 0, name
        assert result["unexplained_duplicates"] == [], name
        assert result["reaped_while_away"] == [], name
        assert result["claims_resumed_after"] is not None and result["claims_resumed_after"] < 5, (
            name,
            result,
            [notable(worker) for pair in pairs if pair.name == name for worker in pair.workers],
        )
    for name in ("sync", "auto"):  # pg_auto_failover replicates synchronously to its one secondary
        assert results.get(name, {}).get("explained_duplicates", []) == [], (
            f"{name}: synchronous replication loses no outcome"
        )
    # the issue measured 11 for the same fault on asynchronous replication (the code before: 49 here)
    assert len(results["async"]["explained_duplicates"]) < 11
    for pair in pairs:
        for worker in pair.workers:  # each says where it found the new primary
            assert f"listening on syncsched_runs at 127.0.0.1:{pair.standby.port}" in worker.output()
