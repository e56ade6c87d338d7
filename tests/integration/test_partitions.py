"""The partitioned run log: runs and attempts live in monthly partitions by scheduled_for, one run per
period across partition boundaries, retention drops whole partitions (keeping what must stay), the
queue's statements read the live partitions only, and an unpartitioned log converts with every row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from test_engine_core import add, nested_plans, plan_nodes

from syncsched import db
from syncsched.migrate import migrate
from syncsched.resources import sql_dir

INSERT_RUNS = """
insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for, idempotency_key, trigger,
    status, max_attempts, attempt, started_at, finished_at, lease_token, lease_expires_at)
select %(org)s, 'i', 'xledger', at, syncsched._period_key(%(org)s, 'i', at), 'schedule',
    %(status)s::syncsched.run_status, 3, case when %(status)s = 'pending' then 0 else 1 end,
    case when %(status)s <> 'pending' then at end,
    case when %(status)s in ('completed', 'failed', 'cancelled') then at + interval '1 minute' end,
    case when %(status)s = 'running' then gen_random_uuid() end,
    case when %(status)s = 'running' then now() + interval '1 hour' end
from generate_series(%(start)s::timestamptz, %(stop)s::timestamptz, %(step)s::interval) as at
"""


def insert_runs(conn: db.Connection, org: str, start: datetime, stop: datetime, step: str, status: str) -> None:
    db.execute(conn, INSERT_RUNS, {"org": org, "start": start, "stop": stop, "step": step, "status": status})
    db.execute(
        conn,
        "insert into syncsched.sync_run_attempts (run_id, scheduled_for, attempt, org_id, outcome, started_at,"
        " finished_at) select r.run_id, r.scheduled_for, 1, r.org_id, 'completed', r.started_at, r.finished_at"
        " from syncsched.sync_run_log as r where r.org_id = %s and r.finished_at is not null"
        " on conflict do nothing",
        (org,),
    )


def first_boundary(conn: db.Connection) -> datetime:
    """Where the partition holding the log from before partitioning ends: the first monthly one starts."""
    boundary: datetime = db.fetch_value(
        conn, "select to_at from syncsched.run_log_partitions() where from_at = '-infinity'"
    )
    return boundary


def month(boundary: datetime, n: int) -> datetime:
    year, month0 = divmod(boundary.month - 1 + n, 12)
    return boundary.replace(year=boundary.year + year, month=month0 + 1)


def partition_of(conn: db.Connection, at: datetime) -> str:
    name: str = db.fetch_value(
        conn,
        "select runs_partition::text from syncsched.run_log_partitions()"
        " where not is_default and from_at <= %s and to_at > %s",
        (at, at),
    )
    return name.removeprefix("syncsched.")


def three_months(conn: db.Connection) -> datetime:
    """Monthly partitions for three months after the first boundary (and two ahead)."""
    b = first_boundary(conn)
    made = db.fetch_value(conn, "select syncsched.ensure_run_log_partitions(%s)", (month(b, 2) + timedelta(days=1),))
    assert made["created"] == 5 and datetime.fromisoformat(made["until"]) == month(b, 5)
    return b


def test_three_months_of_runs_live_in_their_partitions_and_one_period_has_one_run_across_a_boundary(
    conn: db.Connection,
) -> None:
    b = three_months(conn)
    add(conn, "acme", cron_schedule="0 0 1 * *")  # midnight UTC on the 1st: the period is a boundary
    insert_runs(conn, "acme", b, month(b, 3) - timedelta(days=1), "1 day", "completed")
    by_partition = db.fetch_all(
        conn,
        "select c.relname as p, count(*) as n from syncsched.sync_run_log as r join pg_class as c on c.oid = r.tableoid"
        " group by 1 order by 1",
    )
    assert [row["p"] for row in by_partition] == [partition_of(conn, month(b, i)) for i in range(3)]
    assert sum(row["n"] for row in by_partition) == (month(b, 3) - b).days
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts_default") == 0, (
        "attempts live in the partition of their run's range"
    )

    # the period on the boundary between the third and the fourth month: ticks race for it
    boundary = month(b, 3)
    db.execute(conn, "update syncsched.schedule_state set next_run_at = %s, last_tick_at = null", (boundary,))
    first = db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (boundary + timedelta(seconds=2),))
    # (done, so that the next tick's question is the key, not the overlap rule)
    db.execute(
        conn,
        "update syncsched.sync_run_log set status = 'completed', attempt = 1, started_at = now(), finished_at = now()"
        " where scheduled_for = %s",
        (boundary,),
    )
    db.execute(conn, "update syncsched.schedule_state set next_run_at = %s, last_tick_at = null", (boundary,))
    second = db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s)", (boundary + timedelta(seconds=9),))
    assert (first["triggered"], second["triggered"], second["skipped_duplicate"]) == (1, 0, 1)
    run = db.fetch_one(
        conn,
        "select c.relname as p, idempotency_key, scheduled_for from syncsched.sync_run_log as r"
        " join pg_class as c on c.oid = r.tableoid where scheduled_for = %s",
        (boundary,),
    )
    assert run["p"] == partition_of(conn, boundary) and run["idempotency_key"] == f"acme/i/{boundary:%Y-%m-%dT%H:%MZ}"
    # the key names the period: a second run of it meets the first in the same partition
    with pytest.raises(psycopg.errors.UniqueViolation, match=r"\(idempotency_key, scheduled_for, org_id\)"):
        insert_runs(conn, "acme", boundary, boundary, "1 day", "pending")
    # every run the tick made carries the key of its own period
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.sync_run_log as r"
            " where r.idempotency_key <> syncsched._period_key(r.org_id, r.integration_id, r.scheduled_for)",
        )
        == 0
    )


def test_a_partition_made_for_rows_the_default_partition_took_moves_them_in(conn: db.Connection) -> None:
    b = first_boundary(conn)
    add(conn, "acme", interval_minutes=60)
    insert_runs(conn, "acme", month(b, 7), month(b, 7) + timedelta(days=3), "1 day", "completed")
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log_default") == 4
    db.fetch_value(conn, "select syncsched.ensure_run_log_partitions(%s)", (month(b, 7),))
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log_default") == 0
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_attempts_default") == 0
    assert db.fetch_all(
        conn,
        "select distinct c.relname as p from syncsched.sync_run_attempts as a join pg_class as c on c.oid = a.tableoid",
    ) == [{"p": partition_of(conn, month(b, 7)).replace("sync_run_log", "sync_run_attempts")}]
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log") == 4


def test_retention_drops_the_oldest_partition_once_no_run_in_it_is_pending_and_keeps_the_last_runs(
    conn: db.Connection,
) -> None:
    b = three_months(conn)
    add(conn, "busy", interval_minutes=60)
    add(conn, "quiet", interval_minutes=60)
    insert_runs(conn, "busy", b, month(b, 3) - timedelta(hours=1), "1 hour", "completed")
    insert_runs(conn, "quiet", b, b + timedelta(days=4), "1 day", "completed")  # its last 5 runs ever
    insert_runs(conn, "busy", b + timedelta(minutes=30), b + timedelta(minutes=30), "1 day", "pending")
    oldest = partition_of(conn, b)
    in_oldest = db.fetch_value(conn, f"select count(*) from syncsched.{oldest}")
    later = month(b, 3) + timedelta(days=45)  # the first month is 90 days old, the second not yet

    result = db.fetch_value(conn, "select syncsched.prune_run_log(interval '90 days', 3, 1000, %s)", (later,))
    assert [(p["partition"], p.get("deferred")) for p in result["partitions"]] == [
        ("sync_run_log_p_initial", None),
        (oldest, 1),
    ], "a partition with a pending run waits"
    assert db.fetch_value(conn, f"select count(*) from syncsched.{oldest}") == in_oldest

    db.execute(conn, "select syncsched.cancel_run(run_id) from syncsched.sync_run_log where status = 'pending'")
    result = db.fetch_value(conn, "select syncsched.prune_run_log(interval '90 days', 3, 1000, %s)", (later,))
    dropped = result["partitions"][0]
    # quiet's last three runs stay (moved to the DEFAULT partition), with their attempts
    assert dropped == {"partition": oldest, "runs": in_oldest - 3, "kept": 3}
    assert result["runs"] == in_oldest - 3
    assert db.fetch_value(conn, "select to_regclass(%s)", ("syncsched." + oldest,)) is None
    assert db.fetch_all(
        conn,
        "select org_id, count(*) as n from syncsched.sync_run_log_default group by org_id",
    ) == [{"org_id": "quiet", "n": 3}]
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.sync_run_attempts_default as a join syncsched.sync_run_log_default as r"
            " using (run_id, scheduled_for)",
        )
        == 3
    )
    # the second month is not past retention as a whole: nothing in it goes row by row either
    assert (
        db.fetch_value(conn, f"select count(*) from syncsched.{partition_of(conn, month(b, 1))}")
        == (month(b, 2) - month(b, 1)).days * 24
    )
    assert (
        db.fetch_value(
            conn,
            "select count(*) from syncsched.sync_run_attempts as a"
            " where not exists (select from syncsched.sync_run_log as r where r.run_id = a.run_id"
            " and r.scheduled_for = a.scheduled_for)",
        )
        == 0
    ), "no attempt outlives its run"


def run_log_scans(plans: list[dict[str, Any]], text: str) -> list[tuple[str, str]]:
    return [
        (str(plan["Query Text"])[:300], str(node["Relation Name"]))
        for plan in plans
        if text in plan["Query Text"]
        for node in plan_nodes(plan["Plan"])
        if str(node.get("Relation Name", "")).startswith("sync_run_log") and "Scan" in str(node["Node Type"])
    ]


def test_claims_and_the_overview_read_the_live_partitions_only(conn: db.Connection) -> None:
    b = three_months(conn)
    add(conn, "acme", interval_minutes=60)
    insert_runs(conn, "acme", b, month(b, 2) - timedelta(hours=1), "1 hour", "completed")
    insert_runs(conn, "acme", month(b, 2) + timedelta(hours=1), month(b, 2) + timedelta(hours=3), "1 hour", "pending")
    db.execute(conn, "update syncsched.sync_run_log set not_before = now() - interval '1 minute'")
    state = db.fetch_value(conn, "select syncsched.ensure_run_log_partitions(%s)", (month(b, 2) + timedelta(days=1),))
    assert datetime.fromisoformat(state["live_from"]) == month(b, 2), "the two months with no pending run are history"
    history = {partition_of(conn, b), partition_of(conn, month(b, 1)), "sync_run_log_p_initial"}

    plans = nested_plans(conn, "select * from syncsched.claim_runs('w', 10)")
    scans = run_log_scans(plans, "sync_run_log")
    assert scans and not history & {s for _, s in scans}, [q for q, s in scans if s in history]
    assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log where status = 'running'") == 3

    db.execute(conn, "analyze syncsched.sync_run_log")
    plan = db.fetch_value(
        conn,
        "explain (analyze, format json) select * from syncsched.schedule_overview where org_id = 'acme'",
    )[0]["Plan"]
    # The pending run it shows is looked for in the live partitions only. (Its last runs are looked
    # up in every partition's per-integration index: the DEFAULT partition keeps an ordered Append
    # from stopping at the newest.)
    waiting = [
        n
        for n in plan_nodes(plan)
        if "pending" in str(n.get("Index Cond", "")) + str(n.get("Filter", "")) + str(n.get("Recheck Cond", ""))
        and n.get("Actual Loops", 0) > 0
    ]
    assert waiting and not history & {str(n.get("Relation Name")) for n in waiting}, waiting


def test_a_run_retried_in_a_partition_of_history_is_live_again(conn: db.Connection) -> None:
    b = three_months(conn)
    add(conn, "acme", interval_minutes=60)
    insert_runs(conn, "acme", b + timedelta(hours=1), b + timedelta(hours=1), "1 hour", "failed")
    db.execute(conn, "update syncsched.sync_run_log set error = 'HTTP 500'")
    state = db.fetch_value(conn, "select syncsched.ensure_run_log_partitions(%s)", (month(b, 2),))
    assert datetime.fromisoformat(state["live_from"]) == month(b, 2)
    run_id = db.fetch_value(conn, "select run_id from syncsched.sync_run_log")
    db.execute(conn, "select syncsched.retry_run(%s)", (run_id,))
    assert db.fetch_value(conn, "select live_from from syncsched.run_log_state") == b + timedelta(hours=1)
    assert db.fetch_all(conn, "select run_id from syncsched.claim_runs('w', 10)") == [{"run_id": run_id}]


def test_an_unpartitioned_log_with_runs_in_every_state_converts_with_every_row(empty_dsn: str) -> None:
    db.yoyo_apply(empty_dsn, sql_dir("migrations"), until="0014.late_outcomes")
    statuses = ["pending", "running", "completed", "failed", "cancelled"]
    with db.connect(empty_dsn) as conn:
        db.execute(
            conn,
            "insert into syncsched.organization_integrations (org_id, integration_id, integration_type,"
            " interval_minutes) select 'org' || g, 'i', 'xledger', 60 from generate_series(1, 20) as g",
        )
        db.execute(
            conn,
            """
            insert into syncsched.sync_run_log (org_id, integration_id, integration_type, scheduled_for,
                idempotency_key, trigger, status, attempt, max_attempts, started_at, finished_at, lease_token,
                lease_expires_at, error)
            select 'org' || (g %% 20 + 1), 'i', 'xledger', now() - g * interval '3 hours',
                'org' || (g %% 20 + 1) || '/i/' || g, 'schedule', s.status::syncsched.run_status,
                case when s.status = 'pending' then 0 else 1 end, 3,
                case when s.status <> 'pending' then now() - g * interval '3 hours' end,
                case when s.status in ('completed', 'failed', 'cancelled') then now() end,
                case when s.status = 'running' then gen_random_uuid() end,
                case when s.status = 'running' then now() + interval '1 hour' end,
                case when s.status = 'failed' then 'HTTP 500' end
            from generate_series(1, 5000) as g
            cross join lateral (select (%s::text[])[g %% 5 + 1] as status) as s
            """,
            (statuses,),
        )
        db.execute(
            conn,
            "insert into syncsched.sync_run_attempts (run_id, attempt, outcome, started_at, finished_at, error)"
            " select run_id, 1, case when status = 'failed' then 'failed' else 'completed' end, started_at,"
            " finished_at, error from syncsched.sync_run_log where finished_at is not null and started_at is not null",
        )
        runs = "select run_id, idempotency_key, status::text, attempt, scheduled_for, lease_token from syncsched.sync_run_log order by run_id"  # noqa: E501
        attempts = "select run_id, attempt, outcome, error from syncsched.sync_run_attempts order by run_id, attempt"
        runs_before, attempts_before = db.fetch_all(conn, runs), db.fetch_all(conn, attempts)
        last_id = db.fetch_value(conn, "select max(run_id) from syncsched.sync_run_log")
    migrate(empty_dsn)
    with db.connect(empty_dsn) as conn:
        kind = db.fetch_value(conn, "select relkind from pg_class where oid = 'syncsched.sync_run_log'::regclass")
        assert kind == "p"
        assert db.fetch_all(conn, runs) == runs_before and len(runs_before) == 5000
        assert db.fetch_all(conn, attempts) == attempts_before and len(attempts_before) == 3000
        assert db.fetch_value(conn, "select count(*) from syncsched.sync_run_log_p_initial") == 5000
        # run ids go on where they were
        add(conn, "new", interval_minutes=60)
        assert db.fetch_value(conn, "select syncsched.run_now('new', 'i')") > last_id
