"""Phone numbers to E.164 with the tenant's default region, and the region a timezone implies."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as phone_timezones

# phonenumbers maps numbers to timezones; invert that once for "which country is this timezone".
_REGION_BY_TIMEZONE: dict[str, str] = {}


def _build_region_index() -> None:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        for zone in phone_timezones.time_zones_for_number(example):
            _REGION_BY_TIMEZONE.setdefault(zone, region)


_OVERRIDES = {
    # Where several regions share a zone, the largest wins.
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Los_Angeles": "US",
    "America/Phoenix": "US",
    "America/Toronto": "CA",
    "America/Vancouver": "CA",
    "Europe/London": "GB",
    "Australia/Sydney": "AU",
    "Australia/Melbourne": "AU",
    "Australia/Perth": "AU",
    "Australia/Brisbane": "AU",
    "Australia/Adelaide": "AU",
    "Pacific/Auckland": "NZ",
}


def region_for_timezone(timezone: str) -> str | None:
    """The ISO region an IANA timezone most likely belongs to (`Australia/Perth` -> `AU`), or None."""
    if timezone in _OVERRIDES:
        return _OVERRIDES[timezone]
    if not _REGION_BY_TIMEZONE:
        _build_region_index()
    return _REGION_BY_TIMEZONE.get(timezone)


@dataclass(frozen=True)
class Phone:
    """A phone as given, and its E.164 form when it parsed as a possible number."""

    raw: str
    e164: str | None

    @property
    def valid(self) -> bool:
        return self.e164 is not None


def normalize_phone(raw: str | None, default_region: str | None) -> Phone | None:
    """E.164 for `raw` (national numbers read in `default_region`); None for an empty value."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    return _normalized(text, default_region)


# phonenumbers' parse costs ~40 us, and a call's event names the same two numbers several times.
@functools.lru_cache(maxsize=4096)
def _normalized(text: str, default_region: str | None) -> Phone:
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return Phone(raw=text, e164=None)
    if not phonenumbers.is_possible_number(parsed):
        return Phone(raw=text, e164=None)
    return Phone(raw=text, e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
