"""The `syncsched` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from syncsched import __version__, localpg
from syncsched.config import configure_logging, default_worker_id, env_default, parse_duration, resolve_dsn
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
        lease=parse_duration(args.lease),
        grace=parse_duration(args.grace),
        metrics_port=_port(args.metrics_port),
    )
    return run_worker(settings)


def _cmd_demo(args: argparse.Namespace) -> int:
    _say("syncsched demo: coming soon. Meanwhile: `syncsched db start` then `syncsched migrate`.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncsched",
        description="A Postgres-native scheduler for recurring per-tenant sync jobs.",
    )
    parser.add_argument("--version", action="version", version=f"syncsched {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p_migrate = commands.add_parser("migrate", help="apply the schema migrations and the plpgsql/ code")
    p_migrate.add_argument("--dsn", help="database (default: $SYNCSCHED_DSN, then $DATABASE_URL)")
    p_migrate.add_argument("--rollback-all", action="store_true", help="roll every migration back: an empty schema")
    p_migrate.add_argument("--without-pg-cron", action="store_true", help="do not require pg_cron on the server")
    p_migrate.set_defaults(func=_cmd_migrate)

    p_db = commands.add_parser("db", help="the embedded PostgreSQL with pg_cron")
    p_db.add_argument("action", choices=["start", "stop", "status", "url"])
    p_db.add_argument("--dir", default=str(localpg.DEFAULT_DIR), help="cluster folder (default: .syncsched)")
    p_db.set_defaults(func=_cmd_db)

    p_worker = commands.add_parser(
        "worker", help="claim runs and call their endpoints (flags also from SYNCSCHED_* variables)"
    )
    p_worker.add_argument("--dsn", help="database (default: $SYNCSCHED_DSN, then $DATABASE_URL)")
    p_worker.add_argument(
        "--concurrency",
        default=env_default("CONCURRENCY", "5"),
        help="runs in flight at once (default 5; $SYNCSCHED_CONCURRENCY)",
    )
    p_worker.add_argument(
        "--worker-id",
        default=env_default("WORKER_ID", ""),
        help="name in the run log (default host:pid; $SYNCSCHED_WORKER_ID)",
    )
    p_worker.add_argument(
        "--poll-interval",
        default=env_default("POLL_INTERVAL", "5s"),
        help="claim at least this often without NOTIFY (default 5s)",
    )
    p_worker.add_argument(
        "--lease", default=env_default("LEASE", "60s"), help="lease per claim, renewed every lease/3 (default 60s)"
    )
    p_worker.add_argument(
        "--grace",
        default=env_default("GRACE", "30s"),
        help="time for calls in flight to finish at shutdown (default 30s)",
    )
    p_worker.add_argument(
        "--metrics-port",
        default=env_default("METRICS_PORT", ""),
        help="serve /metrics and /healthz on this port (default: off)",
    )
    p_worker.add_argument("--log-format", default=env_default("LOG_FORMAT", "text"), choices=["text", "json"])
    p_worker.set_defaults(func=_cmd_worker)

    p_demo = commands.add_parser("demo", help="the whole system live")
    p_demo.set_defaults(func=_cmd_demo)
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
