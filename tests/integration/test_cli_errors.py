"""Every subcommand, against a database without syncsched, as a role that may only read, and with a DSN that
leads nowhere: one line on stderr (`syncsched: error: ...`), exit code 2, never a traceback; or, where the
role may do it, success."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from conftest import run_syncsched
from harness import login_role
from syncsched import db

NO_ENV = {"SYNCSCHED_DSN": "", "DATABASE_URL": ""}


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    reader_may: bool = False  # the reader role is allowed to do it: success expected


CASES = [
    Case(("migrate",)),
    Case(("migrate", "--rollback-all")),
    Case(("tick",)),
    Case(("cron", "0 2 * * *", "--tz", "Europe/Oslo"), reader_may=True),
    Case(("status",), reader_may=True),
    Case(("status", "--json"), reader_may=True),
    Case(("integrations", "list"), reader_may=True),
    Case(("integrations", "list", "--status", "never", "--json"), reader_may=True),
    Case(("integrations", "show", "acme/ledger"), reader_may=True),
    Case(("integrations", "history", "acme/ledger", "--since", "1h"), reader_may=True),
    Case(("integrations", "add", "acme/new", "--type", "xledger", "--every", "60")),
    Case(("integrations", "set", "acme/ledger", "--every", "30")),
    Case(("integrations", "enable", "acme/ledger")),
    Case(("integrations", "disable", "acme/ledger")),
    Case(("integrations", "run", "acme/ledger", "--force")),
    Case(("integrations", "delete", "acme/ledger", "--with-history")),
    Case(("install-cron",)),
    Case(("uninstall-cron",)),
    Case(("web", "token", "create", "--role", "reader")),
    Case(("web", "token", "list")),
    Case(("web", "token", "revoke", "1")),
]

# `web` itself serves when it may: only its refusals are quick
SERVE = Case(("web", "--port", "0"))
UNPARSEABLE = "postgresql://someone@127.0.0.1:5432/app?no_such_option=1"
UNREACHABLE = "host=127.0.0.1 port=1 dbname=app user=someone connect_timeout=5"


@pytest.fixture
def reader_dsn(syncsched_dsn: str, conn: db.Connection) -> Iterator[str]:
    """A login role in syncsched_reader, on a migrated database with one integration."""
    db.execute(conn, "select syncsched.create_integration('acme', 'ledger', 'xledger', p_interval_minutes => 60)")
    with login_role(conn, "syncsched_reader") as role:
        yield db.with_database(syncsched_dsn, db.parse_dsn(syncsched_dsn)["dbname"]) + f" user={role}"


def run_all(cases: list[Case], dsn: str) -> dict[Case, subprocess.CompletedProcess[str]]:
    """Each case once with --dsn, three at a time (each is a process of its own)."""
    with ThreadPoolExecutor(3) as pool:
        done = pool.map(lambda case: run_syncsched(*case.args, "--dsn", dsn, env=NO_ENV, timeout=60), cases)
        return dict(zip(cases, done, strict=True))


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str | None:
    """What is wrong with the way a refusal was reported, or None."""
    lines = proc.stderr.strip().splitlines()
    if "Traceback" in proc.stderr or len(lines) != 1 or not lines[0].startswith("syncsched: error: "):
        return f"not one error line: {proc.stderr!r}"
    if proc.returncode != 2:
        return f"exit code {proc.returncode}: {proc.stderr!r}"
    missing = [w for w in words if w not in lines[0]]
    return f"{lines[0]!r} does not say {missing}" if missing else None


def check(results: dict[Case, subprocess.CompletedProcess[str]], *words: str, allowed: bool = False) -> None:
    problems = {}
    for case, proc in results.items():
        if allowed and case.reader_may:
            problem = None if proc.returncode == 0 and not proc.stderr.strip() else f"failed: {proc.stderr!r}"
        else:
            problem = one_line_error(proc, *words)
        if problem:
            problems[" ".join(case.args)] = problem
    assert not problems, problems


def test_every_command_on_a_database_without_syncsched_says_migrate_first(empty_dsn: str) -> None:
    cases = [c for c in CASES if c.args[0] != "migrate"] + [SERVE]
    check(run_all(cases, empty_dsn), "not installed", "run `syncsched migrate` first")
    # migrate is the one command that works there (and rolling back nothing is fine)
    assert run_syncsched("migrate", "--rollback-all", "--dsn", empty_dsn, env=NO_ENV).returncode == 0


def test_every_command_as_a_reader_reads_or_says_which_role_lacks_what(reader_dsn: str) -> None:
    results = run_all(CASES, reader_dsn)
    refused = {c: p for c, p in results.items() if not c.reader_may}
    role = db.parse_dsn(reader_dsn)["user"]
    # the web token commands are refused in the console's own words (web/command.py)
    ours = {c: p for c, p in refused.items() if c.args[0] != "web"}
    check(ours, f'role "{role}"', "member of syncsched_reader", "needs")
    check({c: p for c, p in refused.items() if c.args[0] == "web"}, "permission denied")
    check({c: p for c, p in results.items() if c.reader_may}, allowed=True)


@pytest.mark.parametrize("dsn", [UNPARSEABLE, UNREACHABLE], ids=["unparseable", "unreachable"])
def test_every_command_with_a_bad_dsn_says_so_in_one_line(dsn: str) -> None:
    words = ("invalid DSN",) if dsn == UNPARSEABLE else ("cannot connect to 127.0.0.1:1/app",)
    check(run_all([*CASES, SERVE], dsn), *words)


def test_the_worker_with_an_unparseable_dsn_says_so_in_one_line() -> None:
    proc = run_syncsched("worker", "--dsn", UNPARSEABLE, env=NO_ENV, timeout=60)
    assert one_line_error(proc, "invalid DSN") is None


def test_the_worker_on_a_database_without_syncsched_exits_in_one_line(empty_dsn: str) -> None:
    proc = run_syncsched("worker", "--dsn", empty_dsn, env=NO_ENV, timeout=30)
    assert one_line_error(proc, "syncsched migrate") is None


def test_the_worker_as_a_reader_exits_in_one_line(reader_dsn: str) -> None:
    proc = run_syncsched("worker", "--dsn", reader_dsn, env=NO_ENV, timeout=30)
    assert one_line_error(proc, "syncsched_worker") is None


def test_commands_without_a_database_refuse_bad_input_in_one_line(tmp_path: object) -> None:
    for args in (
        ("db", "url", "--dir", f"{tmp_path}/none"),
        ("demo", "--duration", "-1"),
        ("demo", "--orgs", "0"),
        ("cron", "0 2 * * *", "--count", "0"),
        ("integrations", "show", "no-slash"),
        ("integrations", "add", "acme/x", "--type", "xledger", "--every", "soon"),
        ("no-such-command",),
    ):
        proc = run_syncsched(*args, env=NO_ENV)
        assert one_line_error(proc) is None, args
