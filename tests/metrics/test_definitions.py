"""Pure definitions: percentiles, bands, SLA states, rates, ranges, business hours, stage windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.business_hours import InvalidHours, parse_hours
from domain.metrics import Rate, default_range, percentile, range_problem
from domain.tenants import DEFAULT_BUSINESS_HOURS
from tests.metrics.definitions import SlaState, band_for, business_seconds, sla_state


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_percentiles_interpolate_like_percentile_cont():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([120, 240, 300, 32460, 32460, 228000], 0.5) == 16380
    assert percentile([120, 240, 300, 32460, 32460, 228000], 0.9) == 130230


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "0-5 min"),
        (299.9, "0-5 min"),
        (300, "5-15 min"),
        (899, "5-15 min"),
        (900, "15-60 min"),
        (3599, "15-60 min"),
        (3600, "over 60 min"),
        (10**7, "over 60 min"),
    ],
)
def test_bands_include_their_lower_bound(seconds, label):
    assert band_for(seconds) == label


def test_sla_states():
    assert sla_state(300, 10_000, 300) is SlaState.WITHIN
    assert sla_state(301, 10_000, 300) is SlaState.BREACHED
    assert sla_state(None, 300, 300) is SlaState.PENDING
    assert sla_state(None, 301, 300) is SlaState.BREACHED


def test_rates_have_no_value_without_a_denominator():
    assert Rate(0, 0).value is None
    assert Rate(3, 6).value == 0.5


def test_default_range_is_the_last_30_tenant_days():
    # 2024-03-10 is the spring-forward day in New York.
    window = default_range(utc("2024-03-11T03:30"), "America/New_York")  # Sun 23:30 EDT
    assert window.range_to == utc("2024-03-11T04:00")  # Monday 00:00 EDT
    assert window.range_from == utc("2024-02-10T05:00")  # 30 local days: Feb 10 (leap year) .. Mar 10


def test_range_problems():
    assert range_problem(utc("2024-01-02T00:00"), utc("2024-01-01T00:00")) == {"to": "must be after from"}
    assert "to" in range_problem(utc("2020-01-01T00:00"), utc("2024-01-01T00:00"))
    assert range_problem(datetime(2024, 1, 1), utc("2024-01-02T00:00")) == {"from": "needs a UTC offset"}
    assert range_problem(utc("2024-01-01T00:00"), utc("2024-01-31T00:00")) == {}


def test_parse_hours_rejects_what_it_cannot_read():
    for bad in (
        {"mon": ["09:00", "17:00"]},
        {"monday": ["09:00"]},
        {"monday": ["17:00", "09:00"]},
        {"monday": ["9am", "5pm"]},
        {"monday": ["09:00", "24:01"]},
        {"monday": "09:00-17:00"},
    ):
        with pytest.raises(InvalidHours):
            parse_hours(bad)
    assert parse_hours({}).rows() == []
    assert parse_hours({"tuesday": ["08:00", "12:00", "14:00", "24:00"]}).rows() == [
        (2, 480, 720),
        (2, 840, 1440),
    ]


def test_business_seconds_over_a_weekend_and_across_dst():
    hours = parse_hours(DEFAULT_BUSINESS_HOURS)
    # Friday 16:50 EST to Monday 09:10 EDT: ten minutes each side of the weekend.
    assert (
        business_seconds(utc("2024-03-08T21:50"), utc("2024-03-11T13:10"), "America/New_York", hours) == 1200
    )
    always = parse_hours({day: ["00:00", "24:00"] for day in DEFAULT_BUSINESS_HOURS})
    assert (
        business_seconds(utc("2024-03-09T17:00"), utc("2024-03-11T16:00"), "America/New_York", always)
        == 47 * 3600
    )
    assert business_seconds(utc("2024-03-09T17:00"), utc("2024-03-09T16:00"), "America/New_York", always) == 0
