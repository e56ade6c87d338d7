"""The `syncsched` command line."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncsched import __version__, cli_integrations, db, localpg, queries
from syncsched.cli_support import (
    Needs,
    Parser,
    add_database,
    add_dir,
    database,
    of_total,
    one_line,
    print_json,
    say,
    table,
    url,
    warn,
    whole_number,
)
from syncsched.config import (
    env_default,
    parse_duration,
    time_zone,
)
from syncsched.errors import ConfigError, SyncschedError
from syncsched.migrate import migrate, rollback_all

EXIT_USAGE = 2

READER = "syncsched_reader (or syncsched_admin)"
ADMIN = "syncsched_admin"
MIGRATOR = "a superuser, or a role that may create roles and read the server's settings"
CRON_INSTALLER = "syncsched_admin and, granted by a superuser, usage on schema cron"


def _cmd_migrate(args: argparse.Namespace) -> int:
    if args.rollback_all:
        rolled_back = rollback_all(args.dsn, progress=say)
        say(f"rolled back {len(rolled_back)} migration(s)")
        return 0
    result = migrate(
        args.dsn, require_pg_cron=not args.without_pg_cron, citus_distribute=args.citus_distribute, progress=say
    )
    if result.applied:
        say(f"migrated: {len(result.applied)} migration(s) applied")
    else:
        say("migrated: schema already current")
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    cluster = localpg.persistent(Path(args.dir))
    if args.action == "start":
        say(f"running: {url(cluster.start())}")
    elif args.action == "stop":
        running = cluster.is_running()
        cluster.stop()
        say("stopped" if running else "not running")
    elif args.action == "status":
        if cluster.is_running():
            dsn = cluster.start()  # reads the port of the running server
            say(f"running: {url(dsn)} (pid {cluster.postmaster_pid()}, data {cluster.datadir})")
        else:
            say(f"not running (data {cluster.datadir})")
            return 3
    elif args.action == "url":
        if not cluster.is_running():
            raise SyncschedError(f"no cluster running in {cluster.root}: run `syncsched db start`")
        say(url(cluster.start()))
    return 0


def _cmd_tick(args: argparse.Namespace) -> int:
    with db.connect(args.dsn, application_name="syncsched tick") as conn:
        db.execute(conn, queries.TICK)
        last = db.fetch_one(conn, queries.LAST_TICK) or {}
    say(
        f"tick: {last.get('triggered', 0)} run(s) created, {last.get('due', 0)} due, "
        f"{last.get('skipped_running', 0)} skipped (overlap), {last.get('invalid', 0)} invalid"
    )
    return 0


def _cmd_cron(args: argparse.Namespace) -> int:
    params = {"expr": args.expression, "tz": args.tz, "seed": args.seed, "count": args.count, "after": args.after}
    with db.connect(args.dsn, application_name="syncsched cron") as conn:
        checked = db.fetch_one(conn, queries.CRON_VALIDATE, params) or {}
        problem = checked.get("problem") or checked.get("zone_problem")
        if problem:
            print(f"syncsched: invalid: {problem}", file=sys.stderr)
            return EXIT_USAGE
        if args.seed is None and checked.get("has_h"):
            print("syncsched: error: H resolves per integration: pass --seed ORG/INTEGRATION", file=sys.stderr)
            return EXIT_USAGE
        if checked.get("resolved") and checked["resolved"] != args.expression:
            say(f"resolves to: {checked['resolved']}")
        if checked.get("can_check_gap"):
            gap = db.fetch_value(conn, queries.CRON_SCHEDULE_PROBLEM, params)
            if gap:
                warn(f"{gap}: an integration with this schedule is refused")
        db.execute(conn, queries.CLI_SET_TIMEZONE, (args.tz,))  # an --after without offset is in --tz
        runs = db.fetch_all(conn, queries.NEXT_RUNS, params)
    zone = time_zone(args.tz)
    for row in runs:
        at: datetime = row["at"]
        say(f"{at.astimezone(UTC).isoformat()}  ({at.astimezone(zone).strftime('%a %Y-%m-%d %H:%M %Z')})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with db.connect(args.dsn, application_name="syncsched status") as conn:
        report: dict[str, Any] = {
            "schedules": db.fetch_all(conn, queries.STATUS_OVERVIEW, (args.limit,)),
            "recent_runs": db.fetch_all(conn, queries.STATUS_RECENT_RUNS, (args.limit,)),
            "open_alerts": db.fetch_all(conn, queries.STATUS_ALERTS, (args.limit,)),
            "endpoints": db.fetch_all(conn, queries.STATUS_ENDPOINTS),
        }
        totals = db.fetch_one(conn, queries.STATUS_TOTALS) or {}
    if args.json:
        print_json({**report, "totals": totals})
        return 0
    titles = {
        "schedules": "Schedules",
        "recent_runs": "Recent runs (24 h, and every run pending or running)",
        "open_alerts": "Alerts (24 h)",
        "endpoints": "Endpoint health",
    }
    sections = []
    for key, rows in report.items():
        title = titles[key]
        if key in totals and totals[key] > len(rows):
            title += f" ({of_total(len(rows), totals[key])} shown: --limit shows more)"
        sections.append(table(rows, title))
    say("\n\n".join(sections))
    return 0


def _cmd_install_cron(args: argparse.Namespace) -> int:
    with db.connect(args.dsn, application_name="syncsched install-cron") as conn:
        installed = db.fetch_value(conn, queries.INSTALL_CRON, (args.schedule,))
        jobs = db.fetch_all(conn, queries.CRON_JOBS, ([installed["tick_job"], installed["prune_job"]],))
    if args.json:
        print_json(jobs)
        return 0
    say(table(jobs, "pg_cron jobs (pg_cron runs each as the role that scheduled it)"))
    return 0


def _cmd_uninstall_cron(args: argparse.Namespace) -> int:
    with db.connect(args.dsn, application_name="syncsched uninstall-cron") as conn:
        removed = db.fetch_value(conn, queries.UNINSTALL_CRON)
    say(f"removed {removed} pg_cron job(s) of this role")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncsched.demo import run_demo

    duration = parse_duration(args.duration) if args.duration else None
    if duration is not None and duration <= 0:
        raise ConfigError("--duration must be positive")
    return run_demo(Path(args.dir), args.orgs, duration)


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="database (default: $SYNCSCHED_DSN, then $DATABASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="syncsched",
        description="A Postgres-native scheduler for recurring per-tenant sync jobs. Every database command "
        "takes --dsn (else $SYNCSCHED_DSN, else $DATABASE_URL, else the embedded cluster of --dir).",
    )
    parser.add_argument("--version", action="version", version=f"syncsched {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_migrate = commands.add_parser(
        "migrate",
        help="apply the schema migrations and the plpgsql/ code",
        description="Apply the versioned migrations (yoyo), then every plpgsql/ file, in one transaction under one "
        "advisory lock: safe to run concurrently and again. The role creates syncsched's roles the first time.",
    )
    add_database(p_migrate, Needs(MIGRATOR, installed=False))
    p_migrate.add_argument("--rollback-all", action="store_true", help="roll every migration back: an empty schema")
    p_migrate.add_argument("--without-pg-cron", action="store_true", help="do not require pg_cron on the server")
    p_migrate.add_argument(
        "--citus-distribute",
        action="store_true",
        help="on a Citus coordinator, install in distributed mode: the per-tenant tables distributed by org_id; "
        "later migrations keep the mode without it. Each run costs more than in coordinator mode, and the "
        "pg_net transport is not supported there (docs/citus.md)",
    )
    p_migrate.set_defaults(func=_cmd_migrate)

    p_db = commands.add_parser(
        "db",
        help="the embedded PostgreSQL with pg_cron",
        description="An embedded PostgreSQL with pg_cron in --dir, on 127.0.0.1 and a free port: start it, stop "
        "it, print its URL, or say whether it runs (exit code 3 when it does not).",
    )
    p_db.add_argument("action", choices=["start", "stop", "status", "url"], help="what to do")
    add_dir(p_db)
    p_db.set_defaults(func=_cmd_db)

    p_worker = commands.add_parser(
        "worker",
        help="claim runs and call their endpoints (flags also from SYNCSCHED_* variables)",
        description="Claim pending runs (LISTEN syncsched_runs, and a poll), POST each to its integration "
        "type's endpoint and write the outcome back. Run as many as you like; the role needs syncsched_worker. "
        "Exits 2 with one line when a flag is impossible, the database is not migrated or the role lacks what a "
        "worker calls; an unreachable database is retried (one line per try) unless --exit-on-unreachable is given.",
    )
    _add_dsn(p_worker)
    p_worker.add_argument(
        "--concurrency",
        default=env_default("CONCURRENCY", "5"),
        help="runs in flight at once, 1-10000 ($SYNCSCHED_CONCURRENCY, default 5)",
    )
    p_worker.add_argument(
        "--processes",
        default=env_default("PROCESSES", "1"),
        help="worker processes, 1-64, sharing --concurrency: one event loop uses one core "
        "($SYNCSCHED_PROCESSES, default 1; ids <worker-id>/1.., metrics ports from --metrics-port up)",
    )
    p_worker.add_argument(
        "--worker-id",
        default=env_default("WORKER_ID", ""),
        help="name in the run log, at most 200 characters ($SYNCSCHED_WORKER_ID, default host:pid)",
    )
    p_worker.add_argument(
        "--poll-interval",
        default=env_default("POLL_INTERVAL", "5s"),
        help="claim at least this often without NOTIFY, 100ms-1h ($SYNCSCHED_POLL_INTERVAL, default 5s)",
    )
    p_worker.add_argument(
        "--lease",
        default=env_default("LEASE", ""),
        help="lease per claim, renewed every lease/3, 5s-24h ($SYNCSCHED_LEASE, default: the database's lease "
        "setting, 60s unless changed)",
    )
    p_worker.add_argument(
        "--grace",
        default=env_default("GRACE", "30s"),
        help="time for calls in flight to finish at shutdown, 0s-24h ($SYNCSCHED_GRACE, default 30s)",
    )
    p_worker.add_argument(
        "--metrics-port",
        default=env_default("METRICS_PORT", ""),
        help="serve /metrics and /healthz on this port, 1-65535 ($SYNCSCHED_METRICS_PORT, default: off)",
    )
    p_worker.add_argument(
        "--exit-on-unreachable",
        default=env_default("EXIT_ON_UNREACHABLE", ""),
        help="exit with code 2 once the database has been out of reach this long, e.g. 5m "
        "($SYNCSCHED_EXIT_ON_UNREACHABLE, default: retry for as long as it takes)",
    )
    p_worker.add_argument(
        "--log-format",
        default=env_default("LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="text, or json with the run's fields on each transition ($SYNCSCHED_LOG_FORMAT, default text)",
    )
    p_worker.add_argument(
        "--log-runs",
        default=env_default("LOG_RUNS", "all"),
        choices=["all", "failures"],
        help="all: a line for each run's start and success; failures: those at DEBUG, failures, retries and lost "
        "writes at INFO, and a summary a minute ($SYNCSCHED_LOG_RUNS, default all)",
    )

    def worker_main(args: argparse.Namespace) -> int:
        from syncsched.worker import main as run_worker_command  # imported when used: the worker's imports are many

        return run_worker_command(args)

    p_worker.set_defaults(func=worker_main)

    p_tick = commands.add_parser(
        "tick",
        help="one CALL syncsched.tick(), for environments without pg_cron",
        description="Run the tick once: create the runs that are due, as pg_cron does every minute. For "
        "environments without pg_cron (call it every minute) and for a look. The role needs syncsched_admin.",
    )
    add_database(p_tick, Needs(ADMIN))
    p_tick.set_defaults(func=_cmd_tick)

    p_cron = commands.add_parser(
        "cron",
        help="validate a cron expression and show its next fire times",
        description="Validate a cron expression with the database's own cron engine and show its next fire "
        "times in UTC and in --tz; warn (on stderr) when it fires more often than the min_schedule_interval "
        "setting allows for an integration. Without a DSN: the embedded cluster of --dir when it runs, else a "
        "throwaway cluster (a few seconds). An invalid expression or zone exits with code 2.",
    )
    p_cron.add_argument("expression", help="five fields, e.g. '0 2 * * *', or a macro such as @daily")
    p_cron.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    p_cron.add_argument("--count", type=whole_number(1, 1000), default=5, help="fire times (1-1000, default 5)")
    p_cron.add_argument(
        "--after", help="fire times after this instant (ISO 8601; without an offset it is in --tz; default now)"
    )
    p_cron.add_argument(
        "--seed",
        metavar="ORG/INTEGRATION",
        help="the integration H is resolved for (an expression with H needs it to be previewed; default none)",
    )
    add_database(p_cron, Needs(READER, fallback="preview"))
    p_cron.set_defaults(func=_cmd_cron)

    p_status = commands.add_parser(
        "status",
        help="schedules, recent runs, alerts and endpoint health",
        description="Schedules, recent runs, open alerts and endpoint health, as tables or one JSON document; "
        "each table says how many rows it left out. The role needs syncsched_reader.",
    )
    add_database(p_status, Needs(READER))
    p_status.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    p_status.add_argument("--limit", type=whole_number(1, 10000), default=20, help="rows per table (default 20)")
    p_status.set_defaults(func=_cmd_status)

    cli_integrations.add_parser(commands)

    p_install = commands.add_parser(
        "install-cron",
        help="schedule the tick (and a daily prune) in pg_cron",
        description="Schedule CALL syncsched.tick() in pg_cron (every minute unless --schedule says otherwise) "
        "and a daily prune_run_log(), as the role of the DSN: pg_cron runs each job as the role that scheduled "
        "it, so use a dedicated role with syncsched_admin, not a superuser. Running it again changes the "
        "schedule. When pg_cron lives in another database, says what to run there.",
    )
    add_database(p_install, Needs(CRON_INSTALLER))
    p_install.add_argument("--schedule", default="* * * * *", help="the tick's cron schedule (default '* * * * *')")
    p_install.add_argument("--json", action="store_true", help="the jobs as JSON")
    p_install.set_defaults(func=_cmd_install_cron)

    p_uninstall = commands.add_parser(
        "uninstall-cron",
        help="remove the tick and the prune from pg_cron",
        description="Remove the pg_cron jobs install-cron scheduled as the role of the DSN.",
    )
    add_database(p_uninstall, Needs(CRON_INSTALLER))
    p_uninstall.set_defaults(func=_cmd_uninstall_cron)

    p_demo = commands.add_parser(
        "demo",
        help="the whole system live: embedded PostgreSQL, the pg_cron tick, simulated endpoints, a worker, the console",
        description="Start the embedded PostgreSQL of --dir with pg_cron, migrate, install the tick, seed demo "
        "organizations, start simulated endpoints, a worker and the web console, and show it live until Ctrl-C or "
        "--duration.",
    )
    p_demo.add_argument("--duration", help="stop after this long (e.g. 100, 90s, 5m; default: until Ctrl-C)")
    p_demo.add_argument("--orgs", type=whole_number(1, 10000), default=50, help="demo organizations (default 50)")
    add_dir(p_demo)
    p_demo.set_defaults(func=_cmd_demo)

    from syncsched.web import command as web_command

    web_command.add_parser(commands)
    commands.choices["web"].set_defaults(
        needs=Needs("syncsched_web (the console) or syncsched_admin (tokens)", fallback=None), prog="syncsched web"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        needs: Needs | None = getattr(args, "needs", None)
        if needs is None:
            return int(args.func(args))
        with database(args, needs, getattr(args, "prog", "syncsched")) as dsn:
            args.dsn = dsn
            return int(args.func(args))
    except SyncschedError as exc:
        print(f"syncsched: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except db.Error as exc:
        print(f"syncsched: error: {one_line(db.error_message(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("SYNCSCHED_DEBUG"):
            traceback.print_exc()
        print(
            f"syncsched: error: unexpected {type(exc).__name__}: {one_line(str(exc))} "
            "(SYNCSCHED_DEBUG=1 prints the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
