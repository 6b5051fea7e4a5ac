"""Export rows as CSV text: timestamps in each row's tenant timezone, enums as GraphQL spells them,
and every cell safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from domain.business_hours import zone_named
from persistence.call_queries import CALL_EXPORT_COLUMNS
from persistence.lead_queries import LEAD_EXPORT_COLUMNS

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Google Sheets
# (tab and carriage return too, as OWASP lists them); a leading quote makes the cell plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# An E.164 number: a plus and digits only. To a spreadsheet that is a positive number, never a formula
# (no function, no reference, no DDE), so phones in this form are written as they are: a guard
# quote would put a `'` into every phone in pandas and LibreOffice. (Excel and pandas' default
# typing read the column as numbers without the `+`; read it as text to keep it: docs/leads.md.)
E164 = re.compile(r"\+[0-9]{7,15}")


# The first cell of the line that ends an export which stopped early (the rows before it are
# complete). A leading `#` is no formula start, so spreadsheets show it as text.
STREAM_FAILED = "#ERROR"


def failure_line(message: str) -> bytes:
    """The CSV line that ends an export which could not be finished."""
    return Table._encode([[STREAM_FAILED, message]])


def spreadsheet_safe(cell: str) -> str:
    """The cell as text no spreadsheet evaluates (`=1+2` -> `'=1+2`)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def spreadsheet_safe_phone(cell: str) -> str:
    """A phone cell: E.164 as it is (`+61430363930`), anything else guarded like other text."""
    return cell if E164.fullmatch(cell) else spreadsheet_safe(cell)


class Kind(Enum):
    TEXT = "text"
    PHONE = "phone"
    TIME = "time"
    ENUM = "enum"
    BOOL = "bool"
    # Seconds from the row's created_at to its first_attempt_at (the lead's speed-to-lead).
    SPEED = "speed"


class Table:
    """How one export's rows become CSV lines: which result column feeds each CSV column, and how."""

    def __init__(self, result_columns: Sequence[Any], columns: Sequence[tuple[str, Kind]]) -> None:
        position = {column.name: index for index, column in enumerate(result_columns)}
        self.header = [name for name, _ in columns]
        self._timezone = position["tenant_timezone"]
        self._plan = [
            (
                position.get(name, -1),
                kind,
                position.get("created_at", -1),
                position.get("first_attempt_at", -1),
            )
            for name, kind in columns
        ]
        self._zones: dict[str, ZoneInfo] = {}

    def _zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            # A zone this machine's tz database lacks: UTC times are still true, just not local.
            zone = zone_named(name) or ZoneInfo("UTC")
            self._zones[name] = zone
        return zone

    def head(self) -> bytes:
        return self._encode([self.header])

    def lines(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """One batch of result rows as CSV bytes (UTF-8, CRLF line ends as RFC 4180 has them)."""
        cells: list[list[str]] = []
        for row in rows:
            zone = self._zone(row[self._timezone])
            line: list[str] = []
            for index, kind, created, attempted in self._plan:
                if kind is Kind.SPEED:
                    line.append(_speed(row[created], row[attempted]))
                    continue
                value = row[index]
                if value is None:
                    line.append("")
                elif kind is Kind.TIME:
                    line.append(_local_time(value, zone))
                elif kind is Kind.ENUM:
                    line.append(str(value).upper())
                elif kind is Kind.BOOL:
                    line.append("true" if value else "false")
                elif kind is Kind.PHONE:
                    line.append(spreadsheet_safe_phone(str(value)))
                else:
                    line.append(spreadsheet_safe(str(value)))
            cells.append(line)
        return self._encode(cells)

    @staticmethod
    def _encode(cells: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(cells)
        return buffer.getvalue().encode()


def _local_time(value: datetime, zone: ZoneInfo) -> str:
    """`value` in the tenant's zone; in UTC when the local time would fall outside years 1-9999
    (storage only holds bounded times now, but older rows may not be, and one row must not end the file)."""
    try:
        return value.astimezone(zone).isoformat(timespec="milliseconds")
    except (OverflowError, ValueError):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _speed(created: datetime | None, attempted: datetime | None) -> str:
    if created is None or attempted is None:
        return ""
    return f"{(attempted - created).total_seconds():.3f}"


LEADS = Table(
    LEAD_EXPORT_COLUMNS,
    [
        ("lead_id", Kind.TEXT),
        ("tenant_id", Kind.TEXT),
        ("tenant_slug", Kind.TEXT),
        ("created_at", Kind.TIME),
        ("status", Kind.ENUM),
        ("source", Kind.TEXT),
        ("contact_name", Kind.TEXT),
        ("contact_phone", Kind.PHONE),
        ("contact_email", Kind.TEXT),
        ("city", Kind.TEXT),
        ("notes", Kind.TEXT),
        ("external_id", Kind.TEXT),
        ("status_changed_at", Kind.TIME),
        ("first_attempt_at", Kind.TIME),
        ("speed_to_lead_seconds", Kind.SPEED),
        ("first_connected_at", Kind.TIME),
        ("booked_at", Kind.TIME),
        ("sla_breached_at", Kind.TIME),
        ("attempts", Kind.TEXT),
        ("attempts_to_contact", Kind.TEXT),
        ("first_attempt_agent_id", Kind.TEXT),
        ("first_attempt_agent_name", Kind.TEXT),
    ],
)

CALLS = Table(
    CALL_EXPORT_COLUMNS,
    [
        ("call_id", Kind.TEXT),
        ("tenant_id", Kind.TEXT),
        ("tenant_slug", Kind.TEXT),
        ("lead_id", Kind.TEXT),
        ("contact_id", Kind.TEXT),
        ("external_id", Kind.TEXT),
        ("direction", Kind.ENUM),
        ("status", Kind.ENUM),
        ("disposition", Kind.TEXT),
        ("booked", Kind.BOOL),
        ("external_number", Kind.PHONE),
        ("internal_number", Kind.PHONE),
        ("agent_id", Kind.TEXT),
        ("agent_name", Kind.TEXT),
        ("agent_email", Kind.TEXT),
        ("started_at", Kind.TIME),
        ("connected_at", Kind.TIME),
        ("ended_at", Kind.TIME),
        ("duration_seconds", Kind.TEXT),
        ("voicemail", Kind.BOOL),
        ("recording_url", Kind.TEXT),
    ],
)
