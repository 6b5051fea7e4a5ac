"""Business hours moved into a call center's timezone: Dialpad applies `*_hours` in the call center's own
timezone (its office's), which provisioning cannot set, while tenants give theirs in their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.tenants import WEEKDAYS

_DAY = 24 * 60
_WEEK = 7 * _DAY
# Dialpad's latest time of day; a range ending at midnight ends here (one minute short).
_LAST_MINUTE = _DAY - 1


@dataclass(frozen=True)
class ConvertedHours:
    """The hours to send, and what the admin should know when they cannot say the same all year."""

    hours: dict[str, list[str]]
    note: str | None = None


def _minutes(text: str) -> int:
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def _text(minutes: int) -> str:
    minutes = min(minutes, _LAST_MINUTE)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _offset_minutes(zone: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


def convert_hours(
    hours: Mapping[str, list[str]], *, from_zone: str, to_zone: str, today: date
) -> ConvertedHours:
    """`hours` (per weekday, "HH:MM" pairs in `from_zone`) as the same moments in `to_zone`, using the two
    zones' offsets this week. Ranges that cross midnight there are split over the two days. When the
    zones change clocks on different dates, the difference is not the same all year: the hours are
    right for now and the note says when they will be off (Dialpad holds one set of hours)."""
    if from_zone == to_zone:
        return ConvertedHours({day: list(hours.get(day) or []) for day in WEEKDAYS})
    source, target = ZoneInfo(from_zone), ZoneInfo(to_zone)
    noon = datetime.combine(today, time(12), tzinfo=source)
    shift = _offset_minutes(target, noon) - _offset_minutes(source, noon)
    intervals: list[tuple[int, int]] = []
    for index, day in enumerate(WEEKDAYS):
        times = list(hours.get(day) or [])
        for opening, closing in zip(times[0::2], times[1::2], strict=True):
            start = index * _DAY + _minutes(opening) + shift
            end = index * _DAY + _minutes(closing) + shift
            # Wrapped around the week (Monday early -> Sunday late, or the reverse): split at the edge.
            start, end = start % _WEEK, start % _WEEK + (end - start)
            if end > _WEEK:
                intervals += [(start, _WEEK), (0, end - _WEEK)]
            else:
                intervals.append((start, end))
    per_day: dict[str, list[tuple[int, int]]] = {day: [] for day in WEEKDAYS}
    for start, end in sorted(intervals):
        while start < end:
            index, offset = divmod(start, _DAY)
            stop = min(end, (index + 1) * _DAY)
            per_day[WEEKDAYS[index]].append((offset, stop - index * _DAY))
            start = stop
    converted: dict[str, list[str]] = {}
    for day, ranges in per_day.items():
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        converted[day] = [_text(minute) for pair in merged for minute in pair]
    return ConvertedHours(converted, _note(source, target, shift, today, from_zone, to_zone))


def _note(
    source: ZoneInfo, target: ZoneInfo, shift: int, today: date, from_zone: str, to_zone: str
) -> str | None:
    """When, within a year, the zones' difference first changes (then the hours are off by that much)."""
    for days in range(1, 366):
        moment = datetime.combine(today + timedelta(days=days), time(12), tzinfo=source)
        other = _offset_minutes(target, moment) - _offset_minutes(source, moment)
        if other != shift:
            hours_off = abs(other - shift) / 60
            return (
                f"hours converted from {from_zone} to the call center's {to_zone} at today's difference; "
                f"from {(today + timedelta(days=days)).isoformat()} the two change clocks apart and Dialpad's "
                f"hours will be {hours_off:g} h off until they agree again: update the call center's hours then"
            )
    return None
