"""Disposition normalisation, reading them from events, and which ones book."""

from __future__ import annotations

import pytest

from domain.dispositions import dispositions_in, is_booking, normalize_all, normalize_disposition
from domain.tenants import DEFAULT_BOOKED_KEYWORDS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sales~Demo booked", "demo_booked"),
        ("Booked", "booked"),
        ("  Sales~Not Interested ", "not_interested"),
        ("Support~Call-back (later)", "call_back_later"),
        ("Appointment Set", "appointment_set"),
        ("~", ""),
    ],
)
def test_normalize_takes_the_last_segment_in_snake_case(raw: str, expected: str) -> None:
    assert normalize_disposition(raw) == expected


def test_dispositions_are_read_from_any_key_as_string_or_list() -> None:
    assert dispositions_in({"call_dispositions": "Sales~Booked"}) == ("Sales~Booked",)
    assert dispositions_in({"disposition": "Booked"}) == ("Booked",)
    assert dispositions_in({"dispositions": ["Sales~Interested", {"name": "Demo booked"}]}) == (
        "Sales~Interested",
        "Demo booked",
    )
    assert dispositions_in({"dispositions": [], "disposition": "", "state": "dispositions"}) == ()
    assert normalize_all(["Booked", "Sales~Booked", " "]) == ("booked",)


def test_booking_follows_the_tenant_keywords() -> None:
    assert is_booking(["demo_booked"], DEFAULT_BOOKED_KEYWORDS)
    assert is_booking(["appointment_set"], DEFAULT_BOOKED_KEYWORDS)
    assert not is_booking(["not_interested"], DEFAULT_BOOKED_KEYWORDS)
    assert is_booking(["interested", "booked"], DEFAULT_BOOKED_KEYWORDS)
    assert is_booking(["site_visit"], ["Site visit"])
    assert not is_booking(["booked"], ["site visit"])
