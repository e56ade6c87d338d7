"""The oracles of the cron engine's tests: cronsim with its infinite loops caught, tzdata read
from the zone files, and the README's rule for where cronsim fails, by brute force."""

from __future__ import annotations

import functools
import math
import struct
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from cronsim import CronSim

START = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
END = int(datetime(2101, 1, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Change:
    """One change of a zone's UTC offset: at `at` (UTC seconds) from `before` to `after` seconds."""

    at: int
    before: int
    after: int


# --- tzdata, read independently of PostgreSQL ----------------------------------------------------


def zone_file(name: str) -> Path:
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return path
    raise FileNotFoundError(name)


def _tzif_transitions(path: Path) -> list[tuple[int, int]]:
    """(UTC seconds, offset after) of every transition in a TZif file (its 64-bit part)."""
    data = path.read_bytes()

    def counts(at: int) -> tuple[int, ...]:
        return struct.unpack(">6l", data[at + 20 : at + 44])

    isut, isstd, leap, timecnt, typecnt, charcnt = counts(0)
    at, size, code = 44, 4, "l"
    if data[4:5] in (b"2", b"3", b"4"):
        at = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
        isut, isstd, leap, timecnt, typecnt, charcnt = counts(at)
        at, size, code = at + 44, 8, "q"
    times = struct.unpack(f">{timecnt}{code}", data[at : at + size * timecnt])
    at += size * timecnt
    kinds = data[at : at + timecnt]
    at += timecnt
    offsets = [struct.unpack(">l", data[at + 6 * i : at + 6 * i + 4])[0] for i in range(typecnt)]
    return [(t, offsets[k]) for t, k in zip(times, kinds, strict=True)]


def offset_at(tz: ZoneInfo, at: float) -> int:
    offset = datetime.fromtimestamp(at, tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@functools.cache
def changes(name: str) -> tuple[Change, ...]:
    """Every change of the zone's offset between 1900 and 2100: the file's transitions, then
    (where the file's rule string takes over) a day-by-day scan refined to the second."""
    tz = ZoneInfo(name)
    found: list[Change] = []
    previous = offset_at(tz, START)
    last = START
    for at, offset in _tzif_transitions(zone_file(name)):
        if START < at < END and offset != previous:
            found.append(Change(at, previous, offset))
            previous = offset
        if at < END:
            last = max(last, at)
    t = last + 1
    current = offset_at(tz, t)
    while t < END:
        step = t + 86400
        offset = offset_at(tz, step)
        if offset != current:
            lo, hi = t, step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset_at(tz, mid) == current else (lo, mid)
            found.append(Change(hi, current, offset))
            current = offset
        t = step
    return tuple(found)


# --- cronsim, and the README's rule by brute force ------------------------------------------------


class _Hang(Exception):
    pass


class _Watched(CronSim):  # type: ignore[misc]
    """cronsim with its infinite loops caught: a state it comes back to at the top of its search."""

    def __init__(self, expr: str, dt: datetime) -> None:
        super().__init__(expr, dt)
        self._seen: set[tuple[datetime, int]] = set()
        self._ticks = 0

    def advance_month(self) -> None:
        state = (self.dt.replace(tzinfo=None), self.dt.fold)
        if state in self._seen:
            raise _Hang
        self._seen.add(state)
        super().advance_month()

    def tick(self, seconds: int = 1) -> None:
        self._ticks += 1
        if self._ticks > 200_000:  # a safety net: a real search ticks a few hundred times
            raise _Hang
        super().tick(seconds)


def cronsim_next(expr: str, after: datetime, tz: tzinfo) -> datetime | type[_Hang] | None:
    try:
        found = next(_Watched(expr, after.astimezone(tz)))
    except _Hang:
        return _Hang
    except StopIteration:
        return None
    return found.astimezone(UTC)


def _matches(sim: CronSim, wall: datetime) -> bool:
    return (
        wall.second == 0
        and wall.minute in sim.minutes
        and wall.hour in sim.hours
        and wall.month in sim.months
        and sim.match_day(wall.date())
    )


def _skip(sim: CronSim, wall: datetime) -> datetime:
    """The next wall time worth looking at after a non-matching one: next day, hour or minute."""
    if wall.month not in sim.months or not sim.match_day(wall.date()):
        return datetime.combine(wall.date() + timedelta(days=1), datetime.min.time())
    if wall.hour not in sim.hours:
        return wall.replace(minute=0, second=0) + timedelta(hours=1)
    return wall.replace(second=0) + timedelta(minutes=1)


def rule_elapsed(expr: str, after: datetime, name: str) -> datetime | None:
    """The first instant after `after` whose local wall clock matches (scanned minute by minute
    through each stretch of constant offset; whole non-matching days and hours are skipped)."""
    tz = ZoneInfo(name)
    sim = CronSim(expr, after.astimezone(tz))
    ends = [c.at for c in changes(name)]
    t = math.floor(after.timestamp()) + 1
    limit = datetime.fromtimestamp(t, tz).year + 50
    while True:
        offset = offset_at(tz, t)
        end = next((e for e in ends if e > t), END * 2)
        wall = datetime.fromtimestamp(t, UTC).replace(tzinfo=None) + timedelta(seconds=offset)
        if wall.second:
            wall = wall.replace(second=0) + timedelta(minutes=1)
        while (wall - timedelta(seconds=offset)).replace(tzinfo=UTC).timestamp() < end:
            if wall.year > limit:
                return None
            if _matches(sim, wall):
                return (wall - timedelta(seconds=offset)).replace(tzinfo=UTC)
            wall = _skip(sim, wall)
        t = end


def rule_fixed(expr: str, after: datetime, name: str) -> datetime | None:
    """The first fire time after `after` of a fixed-time expression under Debian's rules: a wall
    time skipped by a gap fires at the first minute after it, a repeated one at its first pass."""
    tz = ZoneInfo(name)
    sim = CronSim(expr, after.astimezone(tz))
    wall = datetime.fromtimestamp(after.timestamp() - 2 * 86400, tz).replace(tzinfo=None, second=0, microsecond=0)
    limit = wall.year + 51
    while wall.year <= limit:
        if _matches(sim, wall):
            fire = wall.replace(tzinfo=tz)
            while fire != fire.astimezone(UTC).astimezone(tz):
                fire += timedelta(minutes=1)
            if fire.astimezone(UTC) > after:
                return fire.astimezone(UTC)
        wall = _skip(sim, wall)
    return None


def is_fixed_time(expr: str) -> bool:
    minute, hour = expr.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def expected_next(expr: str, after: datetime, name: str) -> tuple[datetime | None, str]:
    """What cron_next must answer, and whence: cronsim where it answers later than `after` (or
    finds nothing in 50 years), else the README's rule ("cronsim hangs", "cronsim goes backwards")."""
    tz = UTC if name == "UTC" else ZoneInfo(name)
    oracle = cronsim_next(expr, after, tz)
    if oracle is None or (isinstance(oracle, datetime) and oracle > after):
        return oracle, "cronsim"
    source = "cronsim hangs" if oracle is _Hang else "cronsim goes backwards"
    return (rule_fixed if is_fixed_time(expr) else rule_elapsed)(expr, after, name), source
