"""Business hours: a tenant's weekly open hours in its own timezone, and seconds counted only while open.

A schedule maps weekday names to Dialpad's format: a flat list of "HH:MM" strings taken in pairs,
e.g. ["08:00", "12:00", "14:00", "18:00"] = open 08:00-12:00 and 14:00-18:00; [] = closed;
"24:00" closes at the next midnight. Each open interval is a wall-clock interval of one local day,
turned into real instants in the tenant's IANA zone, so a day whose clocks jump still counts the
real seconds that passed while the tenant was open (a 23-hour day open around the clock counts
23 hours). Local times that do not exist or occur twice resolve like PostgreSQL's `AT TIME ZONE`
(the later of the two readings), so this module and the SQL in `persistence/metrics.py` agree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class InvalidHours(ValueError):
    """A schedule that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class OpenInterval:
    """Open from `opens` to `closes`, in minutes after local midnight (closes may be 1440)."""

    opens: int
    closes: int


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals per ISO weekday: index 0 is Monday."""

    days: tuple[tuple[OpenInterval, ...], ...]

    def rows(self) -> list[tuple[int, int, int]]:
        """(ISO day of week 1-7, opens, closes) per interval, as the SQL takes them."""
        return [
            (index + 1, interval.opens, interval.closes)
            for index, intervals in enumerate(self.days)
            for interval in intervals
        ]


def _minutes(text: object, where: str) -> int:
    match = _HHMM.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidHours(f"{where}: {text!r} is not a time as HH:MM")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > 24 * 60:
        raise InvalidHours(f"{where}: {text!r} is after 24:00")
    return minutes


def parse_hours(hours: Mapping[str, Sequence[str]]) -> WeeklyHours:
    """Read a schedule (stored settings; changes are validated by `domain.provisioning.validate_hours`,
    which is stricter); absent weekdays are closed. Raises InvalidHours."""
    unknown = sorted(set(hours) - set(WEEKDAY_NAMES))
    if unknown:
        raise InvalidHours(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAY_NAMES)}")
    days: list[tuple[OpenInterval, ...]] = []
    for name in WEEKDAY_NAMES:
        times = hours.get(name) or []
        if isinstance(times, str) or not isinstance(times, Sequence):
            raise InvalidHours(f"{name}: expected a list of HH:MM strings")
        if len(times) % 2:
            raise InvalidHours(f"{name}: times come in open/close pairs")
        minutes = [_minutes(value, name) for value in times]
        if any(later <= earlier for earlier, later in itertools.pairwise(minutes)):
            raise InvalidHours(f"{name}: times must increase through the day")
        days.append(tuple(OpenInterval(minutes[i], minutes[i + 1]) for i in range(0, len(minutes), 2)))
    return WeeklyHours(tuple(days))


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None. zoneinfo reads `name` as a path under its tz folders, so
    besides "not found" it raises ValueError (a path outside them) and OSError (a folder such as
    "America", a name too long for the file system): all of them mean "no such zone"."""
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `minutes` after midnight on `day` in `zone`.

    A wall time skipped by a jump forward or repeated by a jump back has two readings (fold 0 and
    1); PostgreSQL's `timestamp AT TIME ZONE` takes the later instant, and so do we."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    readings = (wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    return max(readings)


def next_open(moment: datetime, timezone: str, hours: WeeklyHours) -> datetime | None:
    """`moment` when the tenant is open then, else the instant it next opens; None if it never opens."""
    zone = ZoneInfo(timezone)
    day = moment.astimezone(zone).date() - timedelta(days=1)
    # Intervals are in order within a day and days in order, so the first one still open is the answer.
    for _ in range(9):
        for interval in hours.days[day.weekday()]:
            opens = local_instant(day, interval.opens, zone)
            closes = local_instant(day, interval.closes, zone)
            if closes > moment and closes > opens:
                return max(opens, moment)
        day += timedelta(days=1)
    return None
