"""Benchmark `spread`: what an endpoint sees over 02:00-03:00 when 10,000 tenants choose 0 2 * * *.

Three shapes of the same 10,000 nightly integrations, each a type of its own: the plain cron, `H 2 * * *`
(each integration its own minute), and `0 2 * * *` on a type with a one-hour `spread`. The real tick
runs every minute of the hour on the schedule clock (p_now = 02:00:01, 02:01:01, ...); each run is
sent at its not_before, at once when its worker is free (as many workers as it takes). The result is
the requests each second, and its peak against its mean over the hour (the plain cron's peak is
the whole night in one second: 3,600 times the mean).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncsched import db

TENANTS = 10_000
NIGHT = datetime(2030, 1, 8, 2, 0, tzinfo=UTC)
# shape -> (integration type, cron); each shape's integrations are named after their type
SHAPES = {
    "0 2 * * *": ("xledger", "0 2 * * *"),
    "H 2 * * *": ("dynamics", "H 2 * * *"),
    "spread 1 h": ("bufdir", "0 2 * * *"),
}
SHAPE_OF_TYPE = {integration_type: shape for shape, (integration_type, _cron) in SHAPES.items()}

LOAD = """
insert into syncsched.organization_integrations (org_id, integration_id, integration_type, cron_schedule)
select 'org' || g, %(type)s, %(type)s, %(cron)s from generate_series(1, %(tenants)s) as g
"""

# when each run goes out, on the schedule clock: the tick that made it (its period plus the tick's
# lateness, drift) plus what it waits after it (not_before)
SENT = """
select r.integration_type,
    floor(extract(epoch from
        r.scheduled_for + r.drift + (r.not_before - r.enqueued_at) - %(night)s::timestamptz
    ))::integer as second
from syncsched.sync_run_log as r
"""


def run(dsn: str, progress: Any = print) -> dict[str, Any]:
    with db.connect(dsn) as conn:
        db.execute(conn, "select syncsched.set_setting('min_schedule_interval', '1 minute')")
        db.execute(conn, "update syncsched.integration_types set spread = '1 hour' where integration_type = 'bufdir'")
        for integration_type, cron in SHAPES.values():
            db.execute(conn, LOAD, {"type": integration_type, "cron": cron, "tenants": TENANTS})
        # the night before: every schedule's next period is tonight's
        db.execute(conn, "update syncsched.schedule_state set next_run_at = %s", (NIGHT - timedelta(hours=1),))
        db.fetch_value(conn, "select syncsched.run_scheduled_jobs(%s, 100000)", (NIGHT - timedelta(minutes=59),))
        db.execute(conn, "truncate syncsched.sync_run_log, syncsched.sync_run_attempts cascade")
        for minute in range(60):
            db.fetch_value(
                conn, "select syncsched.run_scheduled_jobs(%s, 100000)", (NIGHT + timedelta(minutes=minute, seconds=1),)
            )
        progress(f"   {db.fetch_value(conn, 'select count(*) from syncsched.sync_run_log'):,} runs over the hour")
        per_second: dict[str, Counter[int]] = {shape: Counter() for shape in SHAPES}
        for row in db.fetch_all(conn, SENT, {"night": NIGHT}):
            per_second[SHAPE_OF_TYPE[row["integration_type"]]][row["second"]] += 1
        db.execute(
            conn,
            "truncate syncsched.sync_run_log, syncsched.sync_run_attempts, syncsched.organization_integrations cascade",
        )
        db.execute(conn, "update syncsched.integration_types set spread = null")
        db.execute(conn, "select syncsched.reset_setting('min_schedule_interval')")
    mean = TENANTS / 3600
    shapes = {
        shape: {
            "runs": sum(seconds.values()),
            "peak_per_second": max(seconds.values()),
            "peak_over_mean": round(max(seconds.values()) / mean, 1),
            "busiest_minute": max(Counter(s // 60 for s in seconds.elements()).values()),
            "seconds": [seconds.get(s, 0) for s in range(3600)],
        }
        for shape, seconds in per_second.items()
    }
    return {"tenants": TENANTS, "mean_per_second": round(mean, 2), "shapes": shapes}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"spread: {result['tenants']:,} tenants nightly, the requests an endpoint sees each second over 02:00-03:00"
        f" (mean {result['mean_per_second']}/s)",
        f"  {'schedule':<12} | {'runs':>6} | {'peak/s':>6} | {'peak/mean':>9} | {'busiest minute':>14}",
    ]
    for shape, r in result["shapes"].items():
        lines.append(
            f"  {shape:<12} | {r['runs']:>6,} | {r['peak_per_second']:>6,} | {r['peak_over_mean']:>9} |"
            f" {r['busiest_minute']:>14,}"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for shape, r in result["shapes"].items():
        ax.plot(range(3600), [max(n, 0.5) for n in r["seconds"]], label=f"{shape} (peak/mean {r['peak_over_mean']})")
    ax.set_yscale("log")
    ax.set_xlabel("seconds after 02:00")
    ax.set_ylabel("requests in that second")
    ax.set_title(f"{result['tenants']:,} tenants on a nightly schedule")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
