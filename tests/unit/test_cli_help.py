"""Every subcommand's --help: a description, and every flag with its default and the SYNCSCHED_* variable
it reads. The parser is built under an environment that answers each SYNCSCHED_* name with a marker, so a
flag's default shows which variable it came from."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

import pytest

from syncsched.cli import build_parser

MARK = "@"


class MarkingEnviron(dict[str, str]):
    """os.environ, except that every SYNCSCHED_* name reads as '@SYNCSCHED_...'."""

    def get(self, key: str, default: Any = None) -> Any:
        return MARK + key if key.startswith("SYNCSCHED_") else super().get(key, default)


def subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases appear once
                yield sub
                yield from subcommands(sub)


@pytest.fixture(scope="module")
def parsers() -> dict[str, argparse.ArgumentParser]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", MarkingEnviron(os.environ))
        parser = build_parser()
    return {sub.prog: sub for sub in subcommands(parser)}


def flag_problems(parser: argparse.ArgumentParser) -> list[str]:
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        text = action.help or ""
        if not text:
            problems.append(f"{name}: no help")
            continue
        default = action.default
        if isinstance(default, str) and default.startswith(MARK):
            if default[1:] not in text:
                problems.append(f"{name}: reads {default[1:]}, its help does not say so")
            if "default" not in text:
                problems.append(f"{name}: its help has no default")
        elif default not in (None, False, True, argparse.SUPPRESS) and "default" not in text:
            problems.append(f"{name}: default {default!r}, its help has no default")
        if name == "--dsn" and "SYNCSCHED_DSN" not in text:
            problems.append(f"{name}: its help does not name $SYNCSCHED_DSN")
    return problems


def test_every_subcommand_has_a_description(parsers: dict[str, argparse.ArgumentParser]) -> None:
    assert len(parsers) > 20
    assert [prog for prog, parser in parsers.items() if not (parser.description or "").strip()] == []


# flags in files of other branches
NOT_OURS: dict[str, str] = {}  # subcommands whose flags do not say it yet, and why


@pytest.mark.parametrize(
    "prog",
    [
        pytest.param(prog, marks=pytest.mark.xfail(strict=True, reason=NOT_OURS[prog]) if prog in NOT_OURS else ())
        for prog in sorted(sub.prog for sub in subcommands(build_parser()))
    ],
)
def test_every_flag_says_its_default_and_its_variable(parsers: dict[str, argparse.ArgumentParser], prog: str) -> None:
    assert flag_problems(parsers[prog]) == []


def test_the_help_is_printed_without_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["integrations", "set", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "alter_integration" in out and "--reset FIELD" in out and "$SYNCSCHED_DSN" in out
