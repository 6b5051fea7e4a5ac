"""Snapshots of rows carried in event payloads, so subscribers need no query per event.

A lead's, a contact's and a call's snapshots are rendered by SQL only (`lead_snapshot_sql`,
`contact_snapshot_sql`, `call_snapshot_sql`): every statement that records an event about them selects
its snapshots with these, so the payload has one definition (docs/architecture.md, "Where each rule
lives"). `snapshot()` renders payloads of rows no SQL statement snapshots (notes, tenants) the same
way: uuids as strings, timestamps as ISO 8601 UTC (Python's isoformat), numerics as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, FromClause, text
from sqlalchemy.sql.elements import KeyedColumnElement

from persistence.db import DriverStatement, json_value
from persistence.tables import Call, Contact, Lead
from persistence.unit_of_work import Transaction

# Columns a payload leaves out: a lead's raw body (large, and no subscriber reads it), a call's
# stored-event counter (bookkeeping of the event write, not a fact of the call), and the attempt facts
# the triggers of persistence/sql/call_attempt_facts.sql keep (a lead's attempts to contact and first
# attempt's agent, a call's callback time): they are written after the statement that snapshots the
# row, so a snapshot would show them stale; only the metrics and the export read them.
LEAD_EXCLUDED = ("raw_data", "attempts_to_contact", "first_attempt_agent_id")
CALL_EXCLUDED = ("event_count", "callback_at")


def isoformat_sql(expression: str) -> str:
    """SQL for Python's datetime.isoformat() of a timestamptz in UTC (`+00:00`, the fraction only when
    not zero): the one SQL rendering of timestamps as the API's Python writes them, for event
    snapshots and the compiled reads (persistence/graph_reads.py). NULL stays NULL."""
    utc = f"({expression} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {utc} = date_trunc('second', {utc}) "
        f'THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"+00:00"\') '
        f'ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\') END'
    )


def _json_value(alias: str, column: KeyedColumnElement[Any]) -> str:
    """SQL for one column's JSON value: timestamps as Python's isoformat (`isoformat_sql`), everything
    else as jsonb renders it."""
    ref = f'{alias}."{column.name}"'
    if isinstance(column.type, DateTime):
        return isoformat_sql(ref)
    return ref


def json_snapshot_sql(alias: str, table: FromClause, *, exclude: tuple[str, ...] = ()) -> str:
    """A jsonb_build_object() of the columns of `table`'s row `alias`, minus `exclude`."""
    pairs = [
        f"'{column.name}', {_json_value(alias, column)}"
        for column in table.columns
        if column.name not in exclude
    ]
    return "jsonb_build_object(" + ", ".join(pairs) + ")"


def lead_snapshot_sql(alias: str) -> str:
    """The `lead` of a lead event's payload, from leads row `alias`."""
    return json_snapshot_sql(alias, Lead.__table__, exclude=LEAD_EXCLUDED)


def contact_snapshot_sql(alias: str) -> str:
    """The `contact` of a lead event's payload, from contacts row `alias`."""
    return json_snapshot_sql(alias, Contact.__table__)


def call_snapshot_sql(alias: str) -> str:
    """The `call` of a CALL_UPDATED payload, from calls row `alias`."""
    return json_snapshot_sql(alias, Call.__table__, exclude=CALL_EXCLUDED)


_CALL_SNAPSHOT = DriverStatement(
    text(f"SELECT {call_snapshot_sql('c')} AS call FROM calls AS c WHERE c.id = :id")
)


async def call_snapshot(tx: Transaction, call_id: UUID) -> dict[str, Any]:
    """The `call` of a CALL_UPDATED payload for call `call_id` as it is in this transaction."""
    row = await tx.fetchrow(_CALL_SNAPSHOT, {"id": call_id})
    assert row is not None  # the caller holds the call's lock
    snapshot: dict[str, Any] = json_value(row["call"])
    return snapshot


def jsonable(value: Any) -> Any:
    """uuid -> str, datetime -> ISO 8601 UTC, Decimal -> float, enums -> value; containers recursively."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def snapshot(row: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of a row no statement snapshots in SQL (a note, a tenant) as JSON-safe values,
    minus `exclude`. Leads, contacts and calls: the `*_snapshot_sql` functions above."""
    skipped = set(exclude)
    if hasattr(row, "_mapping"):
        items = dict(row._mapping)
    elif hasattr(row, "__dataclass_fields__"):
        items = {name: getattr(row, name) for name in row.__dataclass_fields__}
    else:
        items = dict(row)
    return {key: jsonable(value) for key, value in items.items() if key not in skipped}
