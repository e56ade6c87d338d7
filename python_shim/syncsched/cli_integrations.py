"""`syncsched integrations ...`: list, show, add, set, enable, disable, run, history and delete integrations.
Each action is one call of the SQL API (create_integration, alter_integration, enable_integration,
disable_integration, run_now, delete_integration); the reads go through schedule_overview,
integration_next_runs, sync_run_log and run_attempts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncsched import db, queries
from syncsched.cli_support import Needs, add_database, cell, of_total, print_json, say, table, when, whole_number
from syncsched.config import parse_duration
from syncsched.errors import ConfigError, SyncschedError

ADMIN = "syncsched_admin"
READER = "syncsched_reader (or syncsched_admin)"
RUN_STATUSES = ["pending", "running", "completed", "failed", "cancelled"]
RESETTABLE = [
    "cron_schedule",
    "interval_minutes",
    "timezone",
    "payload",
    "is_enabled",
    "misfire_policy",
    "misfire_grace",
    "max_attempts",
    "max_staleness",
]


@dataclass(frozen=True)
class Field:
    """A flag of `add` and `set`: the create_integration / alter_integration argument it fills."""

    flag: str
    param: str
    kind: Callable[[str], Any]
    help: str
    default: str  # what create_integration takes when the flag is left out


FIELDS = [
    Field("--type", "p_integration_type", str, "the integration type (see the integration_types table)", "required"),
    Field("--cron", "p_cron_schedule", str, "a cron expression, in the zone of --tz (replaces --every)", "none"),
    Field("--every", "p_interval_minutes", int, "run every N minutes instead (replaces --cron)", "none"),
    Field("--tz", "p_timezone", str, "IANA time zone of the cron schedule", "UTC"),
    Field("--payload", "p_payload", str, "a JSON object, sent to the endpoint with each run", "{}"),
    Field("--misfire-policy", "p_misfire_policy", str, "after a silence: run_once, skip or catch_up", "run_once"),
    Field("--misfire-grace", "p_misfire_grace", str, "how late a skip-policy run may still start", "15 minutes"),
    Field("--max-attempts", "p_max_attempts", int, "attempts per run", "the default_max_attempts setting"),
    Field("--max-staleness", "p_max_staleness", str, "stale after this long without success", "one period"),
]


def target(text: str) -> tuple[str, str]:
    """ORG/ID (ids hold no slash)."""
    org_id, slash, integration_id = text.partition("/")
    if not slash or not org_id or not integration_id:
        raise argparse.ArgumentTypeError(f"{text!r} is not ORG/ID (for example acme/ledger-export)")
    return org_id, integration_id


def _since(text: str | None) -> dict[str, Any]:
    """--since: a duration back from the database's now (90m, 2h, 7d) or an instant (ISO 8601)."""
    if text is None:
        return {"since": None, "since_seconds": None}
    days = text.strip().removesuffix("d")
    if days != text.strip() and days.isdigit():
        return {"since": None, "since_seconds": int(days) * 86400}
    try:
        return {"since": None, "since_seconds": parse_duration(text)}
    except ConfigError:
        return {"since": text, "since_seconds": None}


# --- reads ------------------------------------------------------------------------------------


def _list(conn: db.Connection, args: argparse.Namespace) -> int:
    params = {
        "org": args.org,
        "type": args.type,
        "status": args.status,
        "enabled": args.enabled,
        "limit": args.limit,
        "offset": args.offset,
    }
    rows = db.fetch_all(conn, queries.INTEGRATIONS_LIST, params)
    count_query = queries.INTEGRATIONS_COUNT_BY_STATUS if args.status else queries.INTEGRATIONS_COUNT
    total = int(db.fetch_value(conn, count_query, params) or 0)
    if args.json:
        print_json({"items": rows, "total": total, "offset": args.offset, "limit": args.limit})
        return 0
    shown = [
        {
            "integration": f"{r['org_id']}/{r['integration_id']}",
            "type": r["integration_type"],
            "schedule": r["schedule"],
            "timezone": r["timezone"],
            "enabled": r["is_enabled"],
            "next_run_at": r["next_run_at"],
            "last_status": r["last_status"],
            "failures": r["consecutive_failures"],
            "note": r["schedule_problem"] or r["held_reason"] or (f"paused: {r['paused']}" if r["paused"] else None),
        }
        for r in rows
    ]
    say(table(shown, "Integrations"))
    footer = f"showing {of_total(len(rows), total, args.offset)}"
    if args.offset + len(rows) < total:
        footer += f" (next page: --offset {args.offset + len(rows)})"
    say(footer)
    return 0


def _runs(conn: db.Connection, org_id: str, integration_id: str, **filters: Any) -> list[db.Row]:
    """Runs of an integration, newest first, each with its attempts."""
    params = {"org": org_id, "integration": integration_id, "status": None, **_since(None), **filters}
    runs = db.fetch_all(conn, queries.INTEGRATION_RUNS, params)
    attempts: dict[int, list[db.Row]] = {}
    for attempt in db.fetch_all(conn, queries.RUN_ATTEMPTS, ([r["run_id"] for r in runs],)):
        attempts.setdefault(attempt.pop("run_id"), []).append(attempt)
    return [{**run, "attempts": attempts.get(run["run_id"], [])} for run in runs]


def _run_lines(runs: list[db.Row]) -> list[str]:
    lines = []
    for run in runs:
        http = f"  http {run['http_status']}" if run["http_status"] is not None else ""
        error = f"  {cell(run['error'])}" if run["error"] else ""
        lines.append(
            f"  run {run['run_id']}  {run['status']}  ({run['trigger']}, period {when(run['scheduled_for'])})"
            f"  attempt {run['attempt']} of {run['max_attempts']}{http}{error}"
        )
        for a in run["attempts"]:
            took = f"  {a['duration'].total_seconds():.1f} s" if a["duration"] is not None else ""
            http = f"  http {a['http_status']}" if a["http_status"] is not None else ""
            error = f"  {cell(a['error'])}" if a["error"] else ""
            started = when(a["started_at"]) if a["started_at"] else "not started"
            lines.append(f"      #{a['attempt']} {a['outcome']}  {a['worker_id'] or ''}  {started}{took}{http}{error}")
    return lines


def _integration(conn: db.Connection, args: argparse.Namespace) -> db.Row:
    """The configuration and schedule state of the integration ORG/ID (the console's read of it)."""
    org_id, integration_id = args.target
    row = db.fetch_one(conn, queries.WEB_INTEGRATION, (org_id, integration_id))
    if row is None:
        raise SyncschedError(f"no integration {org_id}/{integration_id}")
    return row


def _history(conn: db.Connection, args: argparse.Namespace) -> int:
    org_id, integration_id = args.target
    _integration(conn, args)
    runs = _runs(conn, org_id, integration_id, status=args.status, limit=args.limit, **_since(args.since))
    if args.json:
        print_json(runs)
        return 0
    title = f"Runs of {org_id}/{integration_id}, newest period first" + ("" if runs else ": none")
    say("\n".join([title, *_run_lines(runs)]))
    return 0


def _show(conn: db.Connection, args: argparse.Namespace) -> int:
    org_id, integration_id = args.target
    config = _integration(conn, args)
    overview = db.fetch_one(conn, queries.INTEGRATION_OVERVIEW, (org_id, integration_id)) or {}
    next_runs = db.fetch_all(conn, queries.WEB_NEXT_RUNS, (org_id, integration_id, args.count))
    runs = _runs(conn, org_id, integration_id, limit=args.runs)
    if args.json:
        print_json({"integration": config, "overview": overview, "next_runs": next_runs, "runs": runs})
        return 0
    schedule = config["cron_schedule"] or (
        f"every {config['interval_minutes']} minutes" if config["interval_minutes"] else "none"
    )
    facts: list[tuple[str, object]] = [
        ("schedule", f"{schedule} ({config['timezone']})"),
        ("enabled", config["is_enabled"]),
        ("payload", config["payload"]),
        ("misfire policy", f"{config['misfire_policy']} (grace {cell(config['misfire_grace'])})"),
        ("max attempts", config["max_attempts"] or "the default_max_attempts setting"),
        ("max staleness", config["max_staleness"] or "one period after the last success"),
        ("next run", config["next_run_at"]),
        ("problem", config["problem"]),
        ("last run", overview.get("last_status")),
        ("last success", overview.get("last_success_at")),
        ("failures in a row", overview.get("consecutive_failures")),
        ("endpoint", f"{overview.get('endpoint_status')} ({overview.get('endpoint_mode')})"),
        ("paused", overview.get("paused")),
        ("held", overview.get("held_reason")),
        ("created", config["created_at"]),
        ("updated", config["updated_at"]),
    ]
    lines = [f"{org_id}/{integration_id} ({config['integration_type']}, id {config['id']})"]
    lines += [f"  {name:<18} {cell(value)}" for name, value in facts if value is not None]
    title = f"Next {len(next_runs)} fire times ({config['timezone']}, and UTC)"
    lines += ["", title + ("" if next_runs else ": none")]
    lines += [
        f"  {_local(r)}  {when(r['at'])}" + ("  (UTC offset changed)" if r["offset_changed"] else "") for r in next_runs
    ]
    lines += ["", "Last runs, newest period first" + ("" if runs else ": none"), *_run_lines(runs)]
    say("\n".join(lines))
    return 0


def _local(row: db.Row) -> str:
    local: datetime = row["local_time"]
    offset: timedelta = row["utc_offset"]
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{local:%a %Y-%m-%d %H:%M} {sign}{minutes // 60:02d}:{minutes % 60:02d}"


# --- actions ----------------------------------------------------------------------------------


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The create/alter arguments of the flags given: the others are not passed at all."""
    given = {f.param: getattr(args, f.param) for f in FIELDS if getattr(args, f.param, None) is not None}
    if getattr(args, "disabled", False):
        given["p_is_enabled"] = False
    if getattr(args, "reset", None):
        given["p_reset"] = args.reset
    return given


def _call(conn: db.Connection, template: str, org_id: str, integration_id: str, fields: dict[str, Any]) -> None:
    names = ["p_org_id", "p_integration_id", *fields]
    db.fetch_value(
        conn,
        queries.named_call(template, names),
        {"p_org_id": org_id, "p_integration_id": integration_id, **fields},
    )


def _configured(conn: db.Connection, args: argparse.Namespace, verb: str) -> int:
    org_id, integration_id = args.target
    row = _integration(conn, args)
    if args.json:
        print_json(row)
        return 0
    next_run = f"next run {when(row['next_run_at'])}" if row.get("next_run_at") else "no next run"
    if row.get("problem"):
        next_run += f" ({row['problem']})"
    elif not row.get("is_enabled"):
        next_run += " (disabled)"
    say(f"{verb} {org_id}/{integration_id}: {next_run}")
    return 0


def _add(conn: db.Connection, args: argparse.Namespace) -> int:
    org_id, integration_id = args.target
    _call(conn, queries.WEB_CREATE_INTEGRATION, org_id, integration_id, _fields(args))
    return _configured(conn, args, "created")


def _set(conn: db.Connection, args: argparse.Namespace) -> int:
    org_id, integration_id = args.target
    fields = _fields(args)
    if not fields:
        raise ConfigError("nothing to change: give the flags of the fields to change (see --help)")
    _call(conn, queries.WEB_ALTER_INTEGRATION, org_id, integration_id, fields)
    return _configured(conn, args, "changed")


def _act(conn: db.Connection, args: argparse.Namespace, query: str, *extra: Any) -> Any:
    org_id, integration_id = args.target
    return db.fetch_value(conn, query, (org_id, integration_id, *extra))


def _report(args: argparse.Namespace, result: dict[str, Any], text: str) -> int:
    org_id, integration_id = args.target
    if args.json:
        print_json({"org_id": org_id, "integration_id": integration_id, **result})
    else:
        say(f"{org_id}/{integration_id}: {text}")
    return 0


def _enable(conn: db.Connection, args: argparse.Namespace) -> int:
    next_run_at = _act(conn, args, queries.WEB_ENABLE)
    text = f"enabled, next run {when(next_run_at)}" if next_run_at else "enabled, no next run (no schedule)"
    return _report(args, {"enabled": True, "next_run_at": next_run_at}, text)


def _disable(conn: db.Connection, args: argparse.Namespace) -> int:
    cancelled = _act(conn, args, queries.WEB_DISABLE)
    return _report(args, {"enabled": False, "cancelled": cancelled}, f"disabled, {cancelled} pending run(s) cancelled")


def _run(conn: db.Connection, args: argparse.Namespace) -> int:
    run_id = _act(conn, args, queries.WEB_RUN_NOW, args.force)
    return _report(args, {"run_id": run_id}, f"run {run_id} queued")


def _delete(conn: db.Connection, args: argparse.Namespace) -> int:
    result = _act(conn, args, queries.WEB_DELETE_INTEGRATION, args.with_history)
    text = f"deleted ({result['runs_deleted']} run(s) of history deleted, {result['cancelled']} pending cancelled)"
    return _report(args, result, text)


# --- the parser -------------------------------------------------------------------------------


def _command(action: Callable[[db.Connection, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with db.connect(args.dsn, application_name=f"syncsched integrations {args.action}") as conn:
            return action(conn, args)

    return run


def add_parser(commands: Any) -> None:
    p_integrations = commands.add_parser(
        "integrations",
        help="list, show, add, change, run and delete integrations",
        description="Integrations from the command line, through the SQL API: what each action does is one call "
        "of a syncsched function, under the role of the DSN (reads need syncsched_reader, changes "
        "syncsched_admin). An integration is named ORG/ID. Every action takes --json.",
    )
    actions = p_integrations.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(
        name: str, func: Callable[[db.Connection, argparse.Namespace], int], summary: str, description: str, role: str
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=summary, description=description)
        if name != "list":
            parser.add_argument("target", type=target, metavar="ORG/ID", help="the integration, e.g. acme/ledger")
        parser.add_argument("--json", action="store_true", help="print JSON (times ISO 8601, intervals in seconds)")
        add_database(parser, Needs(role))
        parser.set_defaults(func=_command(func))
        return parser

    p_list = action(
        "list",
        _list,
        "integrations, filtered, a page at a time",
        "Integrations in order of organization and id, with their schedule, next run and last status, a page at a "
        "time; the footer says how many there are.",
        READER,
    )
    p_list.add_argument("--org", help="of this organization only")
    p_list.add_argument("--type", help="of this integration type only")
    p_list.add_argument(
        "--status", choices=[*RUN_STATUSES, "never"], help="whose last run has this status (never: no run yet)"
    )
    enabled = p_list.add_mutually_exclusive_group()
    enabled.add_argument("--enabled", action="store_true", default=None, help="enabled ones only")
    enabled.add_argument("--disabled", dest="enabled", action="store_false", help="disabled ones only")
    p_list.add_argument("--limit", type=whole_number(1, 10000), default=20, help="rows per page (default 20)")
    p_list.add_argument("--offset", type=whole_number(0, 10**9), default=0, help="rows to skip (default 0)")

    p_show = action(
        "show",
        _show,
        "one integration: configuration, next fire times, last runs",
        "One integration: its configuration and state, its next fire times in its own zone and in UTC, and its "
        "last runs with every attempt.",
        READER,
    )
    p_show.add_argument("--count", type=whole_number(1, 1000), default=5, help="next fire times (default 5)")
    p_show.add_argument("--runs", type=whole_number(1, 1000), default=5, help="last runs (default 5)")

    p_history = action(
        "history",
        _history,
        "an integration's runs and their attempts",
        "An integration's runs, newest period first, each with its attempts (worker, times, HTTP status, error).",
        READER,
    )
    p_history.add_argument("--status", choices=RUN_STATUSES, help="runs with this status only")
    p_history.add_argument(
        "--since", help="runs enqueued since then: a duration back from now (90m, 12h, 7d) or an ISO 8601 instant"
    )
    p_history.add_argument("--limit", type=whole_number(1, 10000), default=20, help="runs (default 20)")

    p_add = action(
        "add",
        _add,
        "create an integration (syncsched.create_integration)",
        "Create an integration: syncsched.create_integration with the arguments of the flags given; a flag left "
        "out takes the function's default. An existing integration is refused: change it with `set`.",
        ADMIN,
    )
    p_set = action(
        "set",
        _set,
        "change some fields of an integration (syncsched.alter_integration)",
        "Change an integration: syncsched.alter_integration with the arguments of the flags given only; every "
        "field not named keeps its value (--cron replaces an interval, --every a cron). --reset puts a field back "
        "to its default.",
        ADMIN,
    )
    for field in FIELDS:
        p_add.add_argument(
            field.flag, dest=field.param, type=field.kind, required=field.flag == "--type",
            help=f"{field.help} (default: {field.default})",
        )  # fmt: skip
        p_set.add_argument(field.flag, dest=field.param, type=field.kind, help=field.help)
    p_add.add_argument("--disabled", action="store_true", help="create it disabled (default: enabled)")
    p_set.add_argument(
        "--reset", action="append", choices=RESETTABLE, metavar="FIELD",
        help=f"put this field back to its default (repeatable): {', '.join(RESETTABLE)}",
    )  # fmt: skip

    action(
        "enable",
        _enable,
        "enable an integration",
        "Enable an integration (syncsched.enable_integration): its schedule starts from now.",
        ADMIN,
    )
    action(
        "disable",
        _disable,
        "disable an integration",
        "Disable an integration (syncsched.disable_integration): no more runs; its pending runs are cancelled.",
        ADMIN,
    )
    p_run = action(
        "run",
        _run,
        "run an integration now",
        "Queue a run now (syncsched.run_now). Refused for a disabled integration and while a run is pending or "
        "running, unless --force.",
        ADMIN,
    )
    p_run.add_argument("--force", action="store_true", help="run it even when disabled or when a run is live")
    p_delete = action(
        "delete",
        _delete,
        "delete an integration",
        "Delete an integration (syncsched.delete_integration). Refused while a run is running, and while it has "
        "runs unless --with-history (then its pending runs are cancelled and its history deleted); disable it "
        "instead to keep the history.",
        ADMIN,
    )
    p_delete.add_argument("--with-history", action="store_true", help="delete its runs and their attempts too")
