"""The `syncsched` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from syncsched import __version__, db, localpg, queries
from syncsched.config import (
    configure_logging,
    default_worker_id,
    env_default,
    parse_duration,
    resolve_dsn,
    time_zone,
)
from syncsched.errors import ConfigError, SyncschedError
from syncsched.migrate import migrate, rollback_all

EXIT_USAGE = 2


def _say(message: str) -> None:
    print(message, flush=True)


def _cmd_migrate(args: argparse.Namespace) -> int:
    dsn = resolve_dsn(args.dsn)
    if args.rollback_all:
        rolled_back = rollback_all(dsn, progress=_say)
        _say(f"rolled back {len(rolled_back)} migration(s)")
        return 0
    result = migrate(dsn, require_pg_cron=not args.without_pg_cron, progress=_say)
    if result.applied:
        _say(f"migrated: {len(result.applied)} migration(s) applied")
    else:
        _say("migrated: schema already current")
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    cluster = localpg.persistent(Path(args.dir))
    if args.action == "start":
        dsn = cluster.start()
        _say(f"running: {dsn}")
    elif args.action == "stop":
        running = cluster.is_running()
        cluster.stop()
        _say("stopped" if running else "not running")
    elif args.action == "status":
        if cluster.is_running():
            cluster.start()  # reads the port of the running server
            _say(f"running: {cluster.dsn()} (pid {cluster.postmaster_pid()}, data {cluster.datadir})")
        else:
            _say(f"not running (data {cluster.datadir})")
            return 3
    elif args.action == "url":
        if not cluster.is_running():
            raise SyncschedError(f"no cluster running in {cluster.root}: run `syncsched db start`")
        _say(cluster.start())
    return 0


def _port(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"--metrics-port must be a port number, not {value!r}")
    return int(value)


def _cmd_worker(args: argparse.Namespace) -> int:
    from syncsched.worker import WorkerSettings, run_worker

    configure_logging(args.log_format)
    try:
        concurrency = int(args.concurrency)
    except ValueError:
        raise ConfigError(f"--concurrency must be a whole number, not {args.concurrency!r}") from None
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    settings = WorkerSettings(
        dsn=resolve_dsn(args.dsn),
        worker_id=args.worker_id or default_worker_id(),
        concurrency=concurrency,
        poll_interval=parse_duration(args.poll_interval),
        lease=parse_duration(args.lease) if args.lease else None,
        grace=parse_duration(args.grace),
        metrics_port=_port(args.metrics_port),
    )
    return run_worker(settings)


def _cmd_tick(args: argparse.Namespace) -> int:
    with db.connect(resolve_dsn(args.dsn), application_name="syncsched tick") as conn:
        db.execute(conn, queries.TICK)
        last = db.fetch_one(conn, queries.LAST_TICK) or {}
    _say(
        f"tick: {last.get('triggered', 0)} run(s) created, {last.get('due', 0)} due, "
        f"{last.get('skipped_running', 0)} skipped (overlap), {last.get('invalid', 0)} invalid"
    )
    return 0


def _cmd_cron(args: argparse.Namespace) -> int:
    def preview(dsn: str) -> int:
        with db.connect(dsn, application_name="syncsched cron") as conn:
            problems = db.fetch_one(conn, queries.CRON_VALIDATE, (args.expression, args.tz)) or {}
            problem = problems.get("problem") or problems.get("zone_problem")
            if problem:
                print(f"syncsched: invalid: {problem}", file=sys.stderr)
                return 2
            for row in db.fetch_all(conn, queries.NEXT_RUNS, (args.expression, args.tz, args.count)):
                at: datetime = row["at"]
                _say(f"{at.isoformat()}  ({at.astimezone(time_zone(args.tz)).strftime('%a %Y-%m-%d %H:%M %Z')})")
        return 0

    if args.count < 1 or args.count > 1000:
        raise ConfigError("--count must be 1-1000")
    try:
        dsn = resolve_dsn(args.dsn)
    except ConfigError:
        # no database given: the embedded cluster computes it (the cron engine lives in SQL)
        with localpg.throwaway() as cluster:
            migrate(cluster.dsn(), require_pg_cron=False)
            return preview(cluster.dsn())
    return preview(dsn)


def _table(rows: list[dict[str, object]], title: str) -> str:
    if not rows:
        return f"{title}: none"
    columns = list(rows[0])
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _cmd_status(args: argparse.Namespace) -> int:
    try:
        dsn = resolve_dsn(args.dsn)
    except ConfigError:
        # no database given: the embedded cluster (what `make demo` left), started for the look
        cluster = localpg.persistent(Path(args.dir))
        if not cluster.initialized():
            raise ConfigError(
                f"no database given and no embedded cluster in {cluster.root}: pass --dsn, set SYNCSCHED_DSN, "
                "or run `make demo` first"
            ) from None
        was_running = cluster.is_running()
        try:
            return _status(cluster.start(), args)
        finally:
            if not was_running:
                cluster.stop()
    return _status(dsn, args)


def _status(dsn: str, args: argparse.Namespace) -> int:
    with db.connect(dsn, application_name="syncsched status") as conn:
        report = {
            "schedules": db.fetch_all(conn, queries.STATUS_OVERVIEW, (args.limit,)),
            "recent_runs": db.fetch_all(conn, queries.STATUS_RECENT_RUNS, (args.limit,)),
            "open_alerts": db.fetch_all(conn, queries.STATUS_ALERTS, (args.limit,)),
            "endpoints": db.fetch_all(conn, queries.STATUS_ENDPOINTS),
        }
    if args.json:
        print(json.dumps(report, default=str, indent=2))
        return 0
    titles = {
        "schedules": "Schedules",
        "recent_runs": "Recent runs",
        "open_alerts": "Alerts (24 h)",
        "endpoints": "Endpoint health",
    }
    _say("\n\n".join(_table(rows, titles[key]) for key, rows in report.items()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncsched.demo import run_demo

    if not 1 <= args.orgs <= 10000:
        raise ConfigError("--orgs must be 1-10000")
    duration = parse_duration(args.duration) if args.duration else None
    if duration is not None and duration <= 0:
        raise ConfigError("--duration must be positive")
    return run_demo(Path(args.dir), args.orgs, duration)


def _add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="database (default: $SYNCSCHED_DSN, then $DATABASE_URL)")


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=str(localpg.DEFAULT_DIR), help="embedded cluster folder (default: .syncsched)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncsched",
        description="A Postgres-native scheduler for recurring per-tenant sync jobs.",
    )
    parser.add_argument("--version", action="version", version=f"syncsched {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p_migrate = commands.add_parser("migrate", help="apply the schema migrations and the plpgsql/ code")
    _add_dsn(p_migrate)
    p_migrate.add_argument("--rollback-all", action="store_true", help="roll every migration back: an empty schema")
    p_migrate.add_argument("--without-pg-cron", action="store_true", help="do not require pg_cron on the server")
    p_migrate.set_defaults(func=_cmd_migrate)

    p_db = commands.add_parser("db", help="the embedded PostgreSQL with pg_cron")
    p_db.add_argument("action", choices=["start", "stop", "status", "url"])
    _add_dir(p_db)
    p_db.set_defaults(func=_cmd_db)

    p_worker = commands.add_parser(
        "worker",
        help="claim runs and call their endpoints (flags also from SYNCSCHED_* variables)",
        description="Claim due runs, call their endpoints and record the outcomes. Exits 2 with one line when a "
        "flag is impossible, the database is not migrated or the role is not a member of syncsched_worker; an "
        "unreachable database is retried (one line per try) unless --exit-on-unreachable is given.",
    )
    _add_dsn(p_worker)
    p_worker.add_argument(
        "--concurrency",
        default=env_default("CONCURRENCY", "5"),
        help="runs in flight at once, 1-10000 ($SYNCSCHED_CONCURRENCY, default 5)",
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

    def worker_main(args: argparse.Namespace) -> int:
        from syncsched.worker import main as run_worker_command  # imported when used: the worker's imports are many

        return run_worker_command(args)

    p_worker.set_defaults(func=worker_main)

    p_tick = commands.add_parser("tick", help="one CALL syncsched.tick(), for environments without pg_cron")
    _add_dsn(p_tick)
    p_tick.set_defaults(func=_cmd_tick)

    p_cron = commands.add_parser("cron", help="validate a cron expression and show its next fire times")
    p_cron.add_argument("expression", help="five fields, e.g. '0 2 * * *'")
    p_cron.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    p_cron.add_argument("--count", type=int, default=5, help="how many fire times (default 5)")
    p_cron.add_argument("--dsn", help="database (default: $SYNCSCHED_DSN, $DATABASE_URL, else a throwaway cluster)")
    p_cron.set_defaults(func=_cmd_cron)

    p_status = commands.add_parser("status", help="schedules, recent runs, alerts and endpoint health")
    p_status.add_argument(
        "--dsn", help="database (default: $SYNCSCHED_DSN, $DATABASE_URL, else the embedded cluster of --dir)"
    )
    _add_dir(p_status)
    p_status.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    p_status.add_argument("--limit", type=int, default=20, help="rows per table (default 20)")
    p_status.set_defaults(func=_cmd_status)

    p_demo = commands.add_parser(
        "demo",
        help="the whole system live: embedded PostgreSQL, the pg_cron tick, simulated endpoints, a worker, the console",
    )
    p_demo.add_argument("--duration", help="stop after this long (e.g. 100, 90s, 5m; default: until Ctrl-C)")
    p_demo.add_argument("--orgs", type=int, default=50, help="demo organizations (default 50)")
    _add_dir(p_demo)
    p_demo.set_defaults(func=_cmd_demo)

    from syncsched.web import command as web_command

    web_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SyncschedError as exc:
        print(f"syncsched: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
