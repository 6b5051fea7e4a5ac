"""`next_open`: the instant a tenant next opens, in its own timezone."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.business_hours import next_open, parse_hours

WEEKDAYS_9_TO_5 = parse_hours(
    {
        day: ["09:00", "12:00", "13:00", "17:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
    }
)


def test_open_now_is_now_and_closed_is_the_next_opening_in_local_time() -> None:
    # Perth is UTC+8 all year. Wednesday 2025-03-05 10:00 local is 02:00 UTC.
    during = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
    assert next_open(during, "Australia/Perth", WEEKDAYS_9_TO_5) == during
    lunch = datetime(2025, 3, 5, 4, 30, tzinfo=UTC)  # 12:30 local
    assert next_open(lunch, "Australia/Perth", WEEKDAYS_9_TO_5) == datetime(2025, 3, 5, 5, 0, tzinfo=UTC)
    friday_evening = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)  # 20:00 local
    assert next_open(friday_evening, "Australia/Perth", WEEKDAYS_9_TO_5) == datetime(
        2025, 3, 10, 1, 0, tzinfo=UTC
    )


def test_never_open_is_none() -> None:
    assert next_open(datetime(2025, 3, 5, tzinfo=UTC), "UTC", parse_hours({})) is None
