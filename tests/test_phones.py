"""Phone normalisation rules."""

from __future__ import annotations

from domain.phones import normalize_phone, region_for_timezone


def test_national_numbers_use_the_tenant_region() -> None:
    phone = normalize_phone("0430 363 930", "AU")
    assert phone is not None
    assert phone.e164 == "+61430363930"


def test_international_numbers_ignore_the_region() -> None:
    phone = normalize_phone("+1 (415) 555-0123", "AU")
    assert phone is not None
    assert phone.e164 == "+14155550123"


def test_unparsable_numbers_are_kept_raw_and_flagged() -> None:
    phone = normalize_phone("call me maybe", "US")
    assert phone is not None
    assert phone.e164 is None
    assert phone.raw == "call me maybe"
    assert normalize_phone("   ", "US") is None


def test_region_from_timezone() -> None:
    assert region_for_timezone("Australia/Perth") == "AU"
    assert region_for_timezone("America/Chicago") == "US"
    assert region_for_timezone("Europe/Berlin") == "DE"
    assert region_for_timezone("Mars/Olympus") is None
