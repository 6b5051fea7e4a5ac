"""Provisioning rules: input validation, the slug from a name, and what Dialpad is asked to create."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import available_timezones

from domain.business_hours import zone_named
from domain.errors import BadInput
from domain.tenants import DEFAULT_BUSINESS_HOURS, WEEKDAYS

SLUG = re.compile(r"^[a-z0-9-]{2,63}$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
NAME_MAX = 100

# The states a tenant's call subscription asks Dialpad for (issue 7): enough to build the call
# record, its outcome and its disposition, nothing the projection ignores. `queued` tells a queue
# abandon from a ring to agents; `recording` often brings the recording URL after the hangup
# (issue 14).
CALL_STATES: tuple[str, ...] = (
    "calling",
    "ringing",
    "connected",
    "queued",
    "hangup",
    "missed",
    "voicemail",
    "voicemail_uploaded",
    "dispositions",
    "recording",
)


class ProvisioningStep:
    """Names of the Dialpad steps, reported in DIALPAD_ERROR's `step`."""

    CALL_CENTER = "callcenter"
    WEBHOOK = "webhook"
    SUBSCRIPTION = "subscription"
    OPERATOR = "operator"


@dataclass(frozen=True)
class ProvisioningInput:
    """A validated provisionClient request."""

    name: str
    timezone: str
    slug: str
    business_hours: dict[str, list[str]]
    office_id: str | None


def slugify(name: str) -> str:
    """ "Acme Solar" -> "acme-solar": ASCII letters and digits, runs of anything else become one dash."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:63].strip("-")


def is_timezone(value: str) -> bool:
    """An IANA zone name ("Europe/Paris"); zoneinfo also accepts file paths, which are refused."""
    return value in available_timezones() or zone_named(value) is not None


def validate_hours(hours: Mapping[str, list[str] | None]) -> dict[str, list[str]]:
    """Business hours per weekday as Dialpad takes them: ["09:00", "12:00", "13:00", "17:00"] is two
    ranges; each list has an even length and strictly increasing "HH:MM" times; a missing day is closed.
    Raises BadInput naming `businessHours.<day>`."""
    errors: dict[str, str] = {}
    unknown = set(hours) - set(WEEKDAYS)
    for day in sorted(unknown):
        errors[f"businessHours.{day}"] = "not a weekday"
    result: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        times = list(hours.get(day) or [])
        field = f"businessHours.{day}"
        if any(not isinstance(time, str) or not TIME.match(time) for time in times):
            errors[field] = 'times must be "HH:MM" (00:00-23:59)'
        elif len(times) % 2:
            errors[field] = "needs open/close pairs (an even number of times)"
        elif any(earlier >= later for earlier, later in itertools.pairwise(times)):
            errors[field] = "times must strictly increase"
        result[day] = times
    if errors:
        raise BadInput("invalid business hours", fields=errors)
    return result


def validate_input(
    *,
    name: str,
    timezone: str,
    slug: str | None = None,
    business_hours: Mapping[str, list[str] | None] | None = None,
    office_id: str | None = None,
) -> ProvisioningInput:
    """Check every field at once; BadInput names each bad one."""
    errors: dict[str, str] = {}
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        errors["name"] = f"must be 1-{NAME_MAX} characters"
    elif "\n" in name or "\r" in name:
        errors["name"] = "must be a single line"
    timezone = timezone.strip()
    if not is_timezone(timezone):
        errors["timezone"] = "not an IANA timezone (e.g. America/New_York)"
    if slug is None:
        slug = slugify(name)
        if not SLUG.match(slug) and "name" not in errors:
            errors["slug"] = "cannot be derived from the name; give one matching [a-z0-9-]{2,63}"
    elif not SLUG.match(slug):
        errors["slug"] = "must match [a-z0-9-]{2,63}"
    if office_id is not None and not office_id.strip().isdigit():
        errors["officeId"] = "must be a Dialpad office id (digits)"
    hours: dict[str, list[str]] = {day: list(times) for day, times in DEFAULT_BUSINESS_HOURS.items()}
    if business_hours is not None:
        try:
            hours = validate_hours(business_hours)
        except BadInput as error:
            errors.update(error.fields)
    if errors:
        raise BadInput("invalid provisioning input: " + ", ".join(sorted(errors)), fields=errors)
    return ProvisioningInput(
        name=name,
        timezone=timezone,
        slug=slug,
        business_hours=hours,
        office_id=office_id.strip() if office_id else None,
    )


def call_center_hours(hours: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The `<day>_hours` fields of POST /callcenters; every day is sent, since Dialpad's default for an
    omitted weekday is 08:00-18:00, not closed."""
    return {f"{day}_hours": list(hours.get(day) or []) for day in WEEKDAYS}
