"""Tenant status and settings with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from domain.business_hours import InvalidHours, WeeklyHours, parse_hours
from domain.leads import StageBounds


class TenantStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    FAILED = "failed"
    SUSPENDED = "suspended"


class DialpadMode(StrEnum):
    LIVE = "live"
    SIMULATED = "simulated"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

DEFAULT_BUSINESS_HOURS: dict[str, list[str]] = {
    day: (["09:00", "17:00"] if day not in ("saturday", "sunday") else []) for day in WEEKDAYS
}

DEFAULT_BOOKED_KEYWORDS: tuple[str, ...] = ("book", "appointment")
# A tenant that set none (persistence/sla.py's SQL is generated with it too).
DEFAULT_SLA_SECONDS = 300


class SlaClock(StrEnum):
    """How a lead's SLA runs: on the wall clock, or only while the tenant is open (business hours,
    holidays closed); docs/metrics.md."""

    WALL = "wall"
    BUSINESS_HOURS = "business_hours"


@dataclass(frozen=True)
class TenantSettings:
    """Per-tenant knobs, stored as JSON on the tenant row; absent keys take these defaults."""

    sla_seconds: int = DEFAULT_SLA_SECONDS
    business_hours: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_BUSINESS_HOURS))
    stage_bounds: StageBounds = field(default_factory=StageBounds)
    # Substrings of a normalised disposition that count as a booking.
    booked_dispositions: tuple[str, ...] = DEFAULT_BOOKED_KEYWORDS
    # ISO 3166 region for national phone numbers; None = derived from the timezone.
    default_region: str | None = None
    # Dialpad events without a JWT signature are refused unless this is on.
    allow_unsigned_events: bool = False
    # Dates closed all day (tenant days): every business-hours figure and the business SLA skip them.
    holidays: tuple[date, ...] = ()
    sla_clock: SlaClock = SlaClock.WALL
    # What one lead of a source cost (in the tenant's currency), by lead source; sources left out
    # have no cost.
    source_costs: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TenantSettings:
        data = data or {}
        bounds = data.get("stage_bounds")
        return cls(
            sla_seconds=int(data.get("sla_seconds", DEFAULT_SLA_SECONDS)),
            business_hours=dict(data.get("business_hours") or DEFAULT_BUSINESS_HOURS),
            stage_bounds=StageBounds(*bounds) if bounds else StageBounds(),
            booked_dispositions=tuple(data.get("booked_dispositions") or DEFAULT_BOOKED_KEYWORDS),
            default_region=data.get("default_region"),
            allow_unsigned_events=bool(data.get("allow_unsigned_events", False)),
            holidays=tuple(sorted(date.fromisoformat(day) for day in data.get("holidays") or ())),
            sla_clock=SlaClock(data.get("sla_clock") or SlaClock.WALL.value),
            source_costs=tuple(
                sorted((str(k), float(v)) for k, v in (data.get("source_costs") or {}).items())
            ),
        )

    def weekly_hours(self) -> WeeklyHours:
        """The business hours as open intervals; settings written before validation existed fall
        back to the default rather than fail a dashboard or the SLA sweep."""
        try:
            return parse_hours(self.business_hours)
        except InvalidHours:
            return parse_hours(DEFAULT_BUSINESS_HOURS)

    def to_json(self) -> dict[str, Any]:
        return {
            "sla_seconds": self.sla_seconds,
            "business_hours": self.business_hours,
            "stage_bounds": self.stage_bounds.as_list(),
            "booked_dispositions": list(self.booked_dispositions),
            "default_region": self.default_region,
            "allow_unsigned_events": self.allow_unsigned_events,
            "holidays": [day.isoformat() for day in self.holidays],
            "sla_clock": self.sla_clock.value,
            "source_costs": dict(self.source_costs),
        }
