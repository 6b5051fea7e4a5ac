"""The instants callers may give (filters, ranges): far enough inside the calendar for any arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

# Moving a given instant to a tenant's local time (up to 14 hours), to a range's default start (30
# days) or end, or to its first week or month, must stay a date Python and PostgreSQL hold
# (years 1 to 9999): these bounds leave centuries of room and cut off no real lead or call.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def instant_problem(value: datetime) -> str | None:
    """Why `value` cannot be used as an instant, or None; a value without an offset is read as UTC."""
    aware = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware < LATEST:
        return f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)"
    return None
