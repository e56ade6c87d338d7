"""The docs name only what exists: every `syncsched ...` command line (its subcommands, choices and flags) is one
the parser knows, every SQL function is one a migrated database has, every syncsched role is one the migrations
create, and the number of roles they state is the number there is."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from conftest import REPO
from syncsched import db
from syncsched.cli import build_parser

DOCS = [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").glob("*.md"))]
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
PYTHON_CALLS = {"create_app"}  # the Python API the README shows next to the SQL
# names of the syncsched_ form that are not roles: pg_cron jobs, NOTIFY channels, pytest fixtures, an example login
NOT_ROLES = {
    "syncsched_tick",
    "syncsched_prune",
    "syncsched_net",
    "syncsched_runs",
    "syncsched_alerts",
    "syncsched_dsn",
    "syncsched_server",
    "syncsched_worker_login",
}


def doc_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def command_lines(text: str) -> list[str]:
    """`syncsched ...` in inline code, and lines of code blocks that start with it."""
    found = re.findall(r"`(syncsched [^`]+)`", text)
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M):
        found += [line.strip() for line in block.splitlines() if line.strip().startswith("syncsched ")]
    return found


def words(line: str) -> list[str]:
    """The words of a command line: comments, quoting and the [optional] brackets of a synopsis off."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        tokens = line.split()
    # the command ends where the shell takes over (a pipe, a redirection, another command)
    for n, token in enumerate(tokens):
        if token in ("|", "||", "&&", ";", "&") or re.match(r"^[0-9]*[<>]", token):
            tokens = tokens[:n]
            break
    return [t.strip("[]") for t in tokens if t.strip("[]") not in ("", "…", "...")]


def command_problem(parser: argparse.ArgumentParser, line: str) -> str | None:
    """What in a documented command line the parser does not know, or None."""
    tokens = words(line)[1:]
    positionals = [a for a in parser._actions if not a.option_strings]
    while tokens:
        token = tokens.pop(0)
        if token.startswith("-"):
            flag = token.split("=")[0]
            action = parser._option_string_actions.get(flag)
            if action is None:
                return f"{parser.prog} has no {flag}"
            if action.nargs != 0 and "=" not in token and tokens:
                tokens.pop(0)  # its value
            continue
        if not positionals:
            return f"{parser.prog} takes no {token!r}"
        positional = positionals.pop(0)
        if isinstance(positional, argparse._SubParsersAction):
            if token not in positional.choices:
                return f"{parser.prog} has no subcommand {token!r}"
            parser = positional.choices[token]
            positionals = [a for a in parser._actions if not a.option_strings]
        elif positional.choices is not None and token not in positional.choices:
            return f"{parser.prog}: {token!r} is not one of {sorted(positional.choices)}"
    return None


def test_the_command_reader_finds_what_the_parser_does_not_know() -> None:
    parser = build_parser()
    assert command_problem(parser, "syncsched integrations set acme/x --every 30  # comment") is None
    assert command_problem(parser, "syncsched demo [--duration SECONDS] [--orgs N]") is None
    assert command_problem(parser, "syncsched db url") is None
    assert command_problem(parser, "syncsched db restart") == "syncsched db: 'restart' is not one of " + str(
        ["start", "status", "stop", "url"]
    )
    assert command_problem(parser, "syncsched integrations frob") == "syncsched integrations has no subcommand 'frob'"
    assert command_problem(parser, "syncsched status --colour") == "syncsched status has no --colour"


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_every_command_in_the_docs_exists(path: Path) -> None:
    parser = build_parser()
    lines = command_lines(doc_text(path))
    problems = {line: problem for line in lines if (problem := command_problem(parser, line))}
    assert problems == {}


def sql_functions(text: str) -> set[str]:
    """syncsched.name( anywhere, and name( in inline code (the SQL API table names them without schema)."""
    names = set(re.findall(r"\bsyncsched\.([a-z_][a-z0-9_]*)\(", text))
    for code in re.findall(r"`([^`]+)`", text):
        names |= {m for m in re.findall(r"(?<![.\w])([a-z_][a-z0-9_]*)\(", code) if m not in PYTHON_CALLS}
    return names


def test_every_sql_function_in_the_docs_exists(conn: db.Connection) -> None:
    named = {name: path.name for path in DOCS for name in sql_functions(doc_text(path))}
    assert {"create_integration", "alter_integration", "run_now", "install_cron", "set_config"} <= set(named)
    existing = {
        row["proname"]
        for row in db.fetch_all(
            conn,
            "select distinct p.proname::text from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace"
            " where n.nspname in ('syncsched', 'pg_catalog')",
        )
    }
    assert {name: where for name, where in named.items() if name not in existing} == {}


def test_the_docs_name_the_roles_there_are_and_count_them_right(conn: db.Connection) -> None:
    roles = {
        row["rolname"]
        for row in db.fetch_all(
            conn,
            "select rolname::text from pg_roles where rolname ~ '^syncsched_' and not rolcanlogin"
            " and rolname !~ '^syncsched_(test|template)'",
        )
    }
    assert "syncsched_admin" in roles
    texts = {path.name: doc_text(path) for path in DOCS}
    named = {name for text in texts.values() for name in re.findall(r"\bsyncsched_[a-z]+\b", text)}
    # the worker's metrics are named syncsched_* too
    metrics = set(re.findall(r'"(syncsched_[a-z_]+)"', (REPO / "python_shim/syncsched/metrics.py").read_text()))
    assert named - roles - NOT_ROLES - metrics == set()
    assert roles - set(re.findall(r"\bsyncsched_[a-z]+\b", texts["SECURITY.md"])) == set()
    counts = {
        (name, match): NUMBERS[match]
        for name, text in texts.items()
        for match in re.findall(r"\b(" + "|".join(NUMBERS) + r") roles\b", text)
    }
    assert counts and {where: n for where, n in counts.items() if n != len(roles)} == {}
