"""The reliability battery, short: 2 minutes of `make soak` (an hour of schedules) must lose no
period, leave no run unfinished and export no period twice but for a worker killed mid-write."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"


@pytest.mark.slow
def test_a_two_minute_soak_with_faults_loses_nothing_and_exports_nothing_twice() -> None:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak  # its dataclasses look their module up while it loads
    spec.loader.exec_module(soak)
    result = soak.run(2.0, progress=lambda _message: None)
    print(soak.report(result))
    assert result["periods_due"] > 1000 and result["runs_completed"] > 1000, "the soak did not run"
    assert result["workers_killed"] >= 5
    assert any("PostgreSQL restarted" in e for e in result["events"])
    assert any("LISTEN connection terminated" in e for e in result["events"])
    assert result["periods_lost"] == 0, result["lost_examples"]
    assert result["runs_non_final"] == 0
    assert result["duplicate_exports_unexplained"] == 0, result["duplicate_cases"]
