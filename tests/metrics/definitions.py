"""The metric rules as plain Python: the reference the tests hold PostgreSQL's aggregates to.

The rules run in one place, the SQL of persistence/metrics.py (and persistence/sla.py for SLA
alerts); docs/metrics.md says what they mean. These are the tests' independent statement of the
same rules, written for reading, not speed (docs/architecture.md, "Where each rule lives")."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.business_hours import WeeklyHours, local_instant
from domain.metrics import SPEED_BANDS


def band_for(seconds: float) -> str:
    """The label of the band a speed falls in."""
    for band in SPEED_BANDS:
        if band.contains(seconds):
            return band.label
    return SPEED_BANDS[0].label  # negative speeds cannot happen: attempts are at or after creation


class SlaState(StrEnum):
    WITHIN = "within"
    BREACHED = "breached"
    # Not attempted yet, and the SLA has not run out.
    PENDING = "pending"


def sla_state(speed_seconds: float | None, age_seconds: float, sla_seconds: float) -> SlaState:
    """A lead's SLA state from its response seconds (first attempt or conversation; None while
    neither) and its age now."""
    if speed_seconds is not None:
        return SlaState.WITHIN if speed_seconds <= sla_seconds else SlaState.BREACHED
    return SlaState.BREACHED if age_seconds > sla_seconds else SlaState.PENDING


def business_seconds(start: datetime, end: datetime, timezone: str, hours: WeeklyHours) -> float:
    """Seconds in [start, end) during which the tenant was open; 0 when end <= start."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(timezone)
    # One day of margin each side: an instant's local day is never further away than that.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    total = 0.0
    while day <= last:
        for interval in hours.days[day.weekday()]:
            opens = local_instant(day, interval.opens, zone)
            closes = local_instant(day, interval.closes, zone)
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(0.0, overlap)
        day += timedelta(days=1)
    return total
