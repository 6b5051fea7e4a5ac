"""Metric definitions (docs/metrics.md): the shapes of the figures, the speed bands, percentiles, ranges.

The aggregates run in one place, PostgreSQL (`persistence/metrics.py`); this module holds their data
(the speed bands the SQL is generated from) and result types, and says what they mean (the tests'
plain-Python reference of the rules is tests/metrics/definitions.py):

- Calls are customer calls (one conversation with one person, however many Dialpad legs; see
  `domain/call_projection.py`): each counts once. A call serves every open lead of its person
  created at or before it.
- Speed-to-lead of a lead = its first attempt (first outbound customer call to its contact started
  at or after the lead's `created_at`) minus `created_at`, in seconds. Reported over attempted
  leads: average, median and p90 (continuous percentiles, linear interpolation between the two
  nearest values, as PostgreSQL's `percentile_cont`), plus the count of unattempted leads.
- SLA: a lead's response is its first attempt or its first conversation (a connected customer call
  either way), whichever came first. Within when response <= SLA; breached when response > SLA, or
  when neither happened and the SLA has run out (age > SLA at the clock's now); a lead younger than
  the SLA with neither is neither.
- Business hours: the same figures with every duration counted only while the tenant is open.
- SLA clock (tenant setting): WALL, the SLA runs around the clock; BUSINESS_HOURS, it runs only
  while the tenant is open (holidays closed), so a lead's deadline is the instant its open seconds
  reach the SLA. The SLA figures (speed-to-lead and first-contact within/breached, contacted within
  the SLA, within SLA by source, the SLA sweep's `sla_breached_at`) follow it; the business-hours
  figures always count open seconds.
- First contact of a lead = its first connected customer call either direction at or after its
  creation (`first_connected_at`); time to first contact is that minus `created_at`.
- The breakdowns (attempts to contact, missed inbound calls, by agent, by source) are defined in
  docs/metrics.md and computed in `persistence/metrics.py`.
- Rates: numerator / denominator; value null when the denominator is 0.
- Ranges are half-open [from, to); leads belong to the range by `created_at`, calls by
  `started_at`; a lead's later calls count for it even when they fall after `to`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.business_hours import local_instant

DEFAULT_RANGE_DAYS = 30
# Wider ranges are exports, not dashboards; the trend would have one point per day.
MAX_RANGE_DAYS = 400
# attemptsToContact.neverReached: the share of leads not reached after at least this many attempts.
NEVER_REACHED_ATTEMPTS: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class SpeedBand:
    label: str
    lower_seconds: int
    # None: no upper bound.
    upper_seconds: int | None

    def contains(self, seconds: float) -> bool:
        return seconds >= self.lower_seconds and (self.upper_seconds is None or seconds < self.upper_seconds)


# Lower bound inclusive, upper exclusive: exactly 5 minutes is in "5-15 min".
SPEED_BANDS: tuple[SpeedBand, ...] = (
    SpeedBand("0-5 min", 0, 300),
    SpeedBand("5-15 min", 300, 900),
    SpeedBand("15-60 min", 900, 3600),
    SpeedBand("over 60 min", 3600, None),
)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Continuous percentile (PostgreSQL `percentile_cont`); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """numerator / denominator, or None when there is nothing to divide by."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class BandCount:
    label: str
    count: int


@dataclass(frozen=True)
class SpeedToLead:
    average_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    attempted_leads: int
    unattempted_leads: int
    within_sla: int
    breached: int
    sla_seconds: int
    bands: tuple[BandCount, ...]


@dataclass(frozen=True)
class TrendDay:
    """One tenant day: leads created, customer calls started, of which connected and booked."""

    day: date
    leads: int
    calls: int
    connected: int
    booked: int
    median_speed_seconds: float | None


@dataclass(frozen=True)
class NeverReached:
    """Leads with at least `attempts` outbound attempts that were never reached / such leads."""

    attempts: int
    rate: Rate


@dataclass(frozen=True)
class AttemptsToContact:
    """Outbound attempts from a lead's creation to its first contact (all of them while never reached)."""

    # Over the leads reached.
    average: float | None
    median: float | None
    contacted_leads: int
    never_reached: tuple[NeverReached, ...]


@dataclass(frozen=True)
class MissedInbound:
    """Inbound customer calls of the range that were missed, abandoned or went to voicemail."""

    total: int
    missed: int
    abandoned: int
    voicemail: int
    # Followed by an outbound call to the same person / total.
    called_back: Rate
    callback_median_seconds: float | None
    callback_p90_seconds: float | None


@dataclass(frozen=True)
class AgentMetrics:
    """One agent's customer calls started in the range, and the range's leads they attempted first."""

    agent_id: str
    name: str | None
    # None when the viewer may not see agents' emails.
    email: str | None
    attempts: int
    leads_first_attempted: int
    median_speed_seconds: float | None
    connects: int
    # Outbound calls that connected / outbound calls.
    connection_rate: Rate
    bookings: int
    # Connected calls with a booked disposition / connected calls (both directions).
    booking_rate: Rate
    median_talk_seconds: float | None


@dataclass(frozen=True)
class SourceMetrics:
    """The range's leads of one source."""

    source: str
    leads: int
    median_speed_seconds: float | None
    within_sla: int
    contacted: int
    booked: int
    # Booked leads / leads.
    booking_rate: Rate
    # From the tenant's setting; None when it has none for this source.
    cost_per_lead: float | None
    spend: float | None
    cost_per_booking: float | None


def source_costs(cost_per_lead: float | None, leads: int, booked: int) -> tuple[float | None, float | None]:
    """(spend, cost per booking) of a source: cost per lead x leads, and that / booked leads."""
    if cost_per_lead is None:
        return None, None
    spend = cost_per_lead * leads
    return spend, (spend / booked if booked else None)


@dataclass(frozen=True)
class Breakdowns:
    attempts_to_contact: AttemptsToContact
    missed_inbound: MissedInbound
    by_agent: tuple[AgentMetrics, ...]
    by_source: tuple[SourceMetrics, ...]


@dataclass(frozen=True)
class Metrics:
    tenant_id: UUID
    range_from: datetime
    range_to: datetime
    leads: int
    speed_to_lead: SpeedToLead
    business_hours: SpeedToLead
    # Outbound customer calls that connected / outbound customer calls.
    connection_rate: Rate
    # Connected customer calls with a booked disposition (on any leg) / connected customer calls.
    booking_rate: Rate
    # Leads with a connected call at or after creation, at any time / leads.
    lead_response_rate: Rate
    trend: tuple[TrendDay, ...]
    # The speed-to-lead figures measured to the first contact (a connected call either way).
    time_to_first_contact: SpeedToLead
    business_hours_to_first_contact: SpeedToLead
    # Leads reached within the SLA (under the tenant's SLA clock) / leads.
    contacted_within_sla: Rate
    # Computed only when asked for (they read the range's calls).
    breakdowns: Breakdowns | None = None
    # The same figures for the period of equal length just before, when asked for.
    previous: Metrics | None = None


@dataclass(frozen=True)
class MetricsRange:
    range_from: datetime
    range_to: datetime


def default_range(now: datetime, timezone: str, days: int = DEFAULT_RANGE_DAYS) -> MetricsRange:
    """The last `days` tenant days, today included: from local midnight `days - 1` days ago to the
    next local midnight."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    return MetricsRange(
        range_from=local_instant(today - timedelta(days=days - 1), 0, zone),
        range_to=local_instant(today + timedelta(days=1), 0, zone),
    )


def previous_range(range_from: datetime, range_to: datetime, timezone: str) -> MetricsRange:
    """The period of equal length just before [from, to): as many tenant days earlier when both
    bounds begin tenant days (so a DST change keeps whole days), else the same duration."""
    zone = ZoneInfo(timezone)
    first_day, end_day = _day_starting(range_from, zone), _day_starting(range_to, zone)
    if first_day is not None and end_day is not None:
        days = (end_day - first_day).days
        start = local_instant(first_day - timedelta(days=days), 0, zone)
        return MetricsRange(range_from=start, range_to=range_from)
    return MetricsRange(range_from=range_from - (range_to - range_from), range_to=range_from)


def _day_starting(moment: datetime, zone: ZoneInfo) -> date | None:
    """The tenant day `moment` begins, if it begins one: a local midnight, or the instant a day whose
    midnight a clock change skips begins (America/Santiago's 6 Sep 2026 starts at 01:00), which is
    where `default_range` and the trend put that day's start."""
    local = moment.astimezone(zone)
    if local.time() == datetime.min.time() or moment == local_instant(local.date(), 0, zone):
        return local.date()
    return None


def range_problem(range_from: datetime, range_to: datetime) -> dict[str, str]:
    """What is wrong with a requested range, by argument name; empty when it is fine."""
    if range_from.tzinfo is None or range_to.tzinfo is None:
        return {"from" if range_from.tzinfo is None else "to": "needs a UTC offset"}
    if range_to <= range_from:
        return {"to": "must be after from"}
    if range_to - range_from > timedelta(days=MAX_RANGE_DAYS):
        return {"to": f"at most {MAX_RANGE_DAYS} days after from"}
    return {}
