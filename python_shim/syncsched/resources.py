"""Where the SQL files are: inside the installed package, or the checkout's top level."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Literal

SqlFolder = Literal["migrations", "plpgsql", "sql"]

_CHECKOUT = Path(__file__).resolve().parents[2]


def sql_dir(folder: SqlFolder) -> Path:
    """The folder of SQL files shipped as package data (mapped from the checkout)."""
    try:
        traversable = importlib.resources.files(f"syncsched.{folder}")
        path = Path(str(traversable))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    path = _CHECKOUT / folder
    if path.is_dir():
        return path
    raise FileNotFoundError(f"syncsched's {folder}/ folder is missing from the installation")


def plpgsql_files() -> list[Path]:
    """The plpgsql/ files in load order (their numeric prefixes)."""
    return sorted(sql_dir("plpgsql").glob("*.sql"))
