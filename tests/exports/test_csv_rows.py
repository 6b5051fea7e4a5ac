"""CSV rows: a time a timezone cannot show, or a zone this machine lacks, still gives a whole line."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from exports.csv_rows import LEADS, STREAM_FAILED, failure_line
from persistence.lead_queries import LEAD_EXPORT_COLUMNS


def lead_row(**values: object) -> list[object]:
    """A result row of the lead export: Tokyo, created 2025-03-03 12:00 UTC, `values` on top."""
    row: dict[str, object] = dict.fromkeys((column.name for column in LEAD_EXPORT_COLUMNS), None)
    row |= {"tenant_timezone": "Asia/Tokyo", "created_at": datetime(2025, 3, 3, 12, tzinfo=UTC)} | values
    return [row[column.name] for column in LEAD_EXPORT_COLUMNS]


def parsed(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((LEADS.head() + data).decode())))


def test_a_time_past_the_zones_last_day_is_written_in_utc() -> None:
    latest = datetime(9999, 12, 31, 20, tzinfo=UTC)
    earliest = datetime(1, 1, 1, 1, tzinfo=UTC)
    [row] = parsed(LEADS.lines([lead_row(first_attempt_at=latest, status_changed_at=earliest)]))
    assert row["created_at"] == "2025-03-03T21:00:00.000+09:00"
    assert row["first_attempt_at"] == "9999-12-31T20:00:00.000+00:00"
    [row] = parsed(LEADS.lines([lead_row(tenant_timezone="America/New_York", status_changed_at=earliest)]))
    assert row["status_changed_at"] == "0001-01-01T01:00:00.000+00:00"


def test_an_unknown_zone_gives_utc_times() -> None:
    [row] = parsed(LEADS.lines([lead_row(tenant_timezone="Mars/Olympus_Mons")]))
    assert row["created_at"] == "2025-03-03T12:00:00.000+00:00"


def test_the_failure_line_is_a_csv_line_no_spreadsheet_runs() -> None:
    [cells] = list(csv.reader(io.StringIO(failure_line("stopped, retry").decode())))
    assert cells == [STREAM_FAILED, "stopped, retry"]
