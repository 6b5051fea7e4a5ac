"""Validating a change to a tenant's settings: each bad field named with what is wrong."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import phonenumbers

from domain.dispositions import normalize_disposition
from domain.errors import BadInput
from domain.leads import StageBounds
from domain.provisioning import validate_hours
from domain.tenants import SlaClock, TenantSettings

MAX_SLA_SECONDS = 7 * 86_400
MAX_BOOKED_DISPOSITIONS = 20
MAX_DISPOSITION_LENGTH = 100
MAX_HOLIDAYS = 400
MAX_SOURCE_COSTS = 100
MAX_SOURCE_LENGTH = 100
MAX_SOURCE_COST = 1_000_000


class Unchanged:
    """The marker for a setting the change leaves alone (None may be a real value)."""


UNCHANGED = Unchanged()


@dataclass(frozen=True)
class SettingsChange:
    sla_seconds: int | Unchanged = UNCHANGED
    # Weekday name -> "HH:MM" open/close pairs; the whole week is replaced, absent days are closed.
    business_hours: Mapping[str, list[str] | None] | Unchanged = UNCHANGED
    # Upper age bounds in seconds of Follow Up 1, 2 and 3.
    stage_bounds: Sequence[int] | Unchanged = UNCHANGED
    booked_dispositions: Sequence[str] | Unchanged = UNCHANGED
    # ISO 3166 region, or None to derive it from the timezone again.
    default_region: str | Unchanged | None = UNCHANGED
    # The whole list is replaced.
    holidays: Sequence[date] | Unchanged = UNCHANGED
    sla_clock: SlaClock | Unchanged = UNCHANGED
    # Lead source -> cost of one lead; the whole mapping is replaced.
    source_costs: Mapping[str, float] | Unchanged = UNCHANGED


def apply_change(settings: TenantSettings, change: SettingsChange) -> tuple[TenantSettings, dict[str, str]]:
    """The settings after `change`, and the problems by field name (camelCase, as in the API)."""
    problems: dict[str, str] = {}
    updated = settings
    if not isinstance(change.sla_seconds, Unchanged):
        if not 1 <= change.sla_seconds <= MAX_SLA_SECONDS:
            problems["slaSeconds"] = f"between 1 and {MAX_SLA_SECONDS} seconds"
        else:
            updated = replace(updated, sla_seconds=change.sla_seconds)
    if not isinstance(change.business_hours, Unchanged):
        # The rules provisioning applies (Dialpad's call center hours), so settings stay syncable.
        try:
            week = validate_hours(change.business_hours)
        except BadInput as error:
            problems.update(error.fields)
        else:
            updated = replace(updated, business_hours=week)
    if not isinstance(change.stage_bounds, Unchanged):
        bounds = list(change.stage_bounds)
        if len(bounds) != 3:
            problems["stageBounds"] = "three bounds in seconds: the ends of Follow Up 1, 2 and 3"
        elif bounds[0] <= 0 or any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
            problems["stageBounds"] = "bounds must be positive and increasing"
        else:
            updated = replace(updated, stage_bounds=StageBounds(*bounds))
    if not isinstance(change.booked_dispositions, Unchanged):
        words = [word.strip() for word in change.booked_dispositions]
        if not words or len(words) > MAX_BOOKED_DISPOSITIONS:
            problems["bookedDispositions"] = f"between 1 and {MAX_BOOKED_DISPOSITIONS} words"
        elif any(not normalize_disposition(word) or len(word) > MAX_DISPOSITION_LENGTH for word in words):
            problems["bookedDispositions"] = (
                f"each a word or phrase of at most {MAX_DISPOSITION_LENGTH} characters"
            )
        else:
            updated = replace(updated, booked_dispositions=tuple(words))
    if not isinstance(change.default_region, Unchanged):
        region = change.default_region.strip().upper() if change.default_region else None
        if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
            problems["defaultRegion"] = "an ISO 3166 region code such as US or AU"
        else:
            updated = replace(updated, default_region=region)
    if not isinstance(change.holidays, Unchanged):
        if len(change.holidays) > MAX_HOLIDAYS:
            problems["holidays"] = f"at most {MAX_HOLIDAYS} dates"
        else:
            updated = replace(updated, holidays=tuple(sorted(set(change.holidays))))
    if not isinstance(change.sla_clock, Unchanged):
        updated = replace(updated, sla_clock=change.sla_clock)
    if not isinstance(change.source_costs, Unchanged):
        costs = {source.strip(): cost for source, cost in change.source_costs.items()}
        if len(costs) > MAX_SOURCE_COSTS:
            problems["sourceCosts"] = f"at most {MAX_SOURCE_COSTS} sources"
        elif any(not source or len(source) > MAX_SOURCE_LENGTH or "\x00" in source for source in costs):
            problems["sourceCosts"] = f"each source a name of 1 to {MAX_SOURCE_LENGTH} characters"
        elif any(not (math.isfinite(cost) and 0 <= cost <= MAX_SOURCE_COST) for cost in costs.values()):
            problems["sourceCosts"] = f"each cost a number from 0 to {MAX_SOURCE_COST}"
        else:
            updated = replace(updated, source_costs=tuple(sorted(costs.items())))
    return updated, problems
