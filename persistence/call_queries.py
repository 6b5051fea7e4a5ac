"""Reading calls: by id and by lead in batches, and filtered keyset pages."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.calls import CallDirection, CallStatus
from persistence.keyset import PageKey, after_key, newest_first, stream_in_batches, uuid_in
from persistence.rows import CallRow
from persistence.tables import Call, Tenant

calls = Call.__table__
tenants = Tenant.__table__

_CALL_COLUMNS = [calls.c[field.name] for field in dataclasses.fields(CallRow)]


@dataclass(frozen=True)
class CallFilter:
    directions: tuple[CallDirection, ...] = ()
    statuses: tuple[CallStatus, ...] = ()
    # Normalised dispositions, matched exactly.
    dispositions: tuple[str, ...] = ()
    # Half-open [started_from, started_to).
    started_from: datetime | None = None
    started_to: datetime | None = None
    lead_id: UUID | None = None
    # The customer call's agent (Dialpad user id).
    agent_id: str | None = None
    # False: customer calls (primary legs) only, what metrics count; True: every leg with events.
    legs: bool = False


def _conditions(tenant_ids: frozenset[UUID] | None, where: CallFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        calls.c.event_count > 0 if where.legs else calls.c.is_primary_leg
    ]
    if tenant_ids is not None:
        if len(tenant_ids) == 1:
            conditions.append(calls.c.tenant_id == next(iter(tenant_ids)))
        else:
            conditions.append(uuid_in(calls.c.tenant_id, sorted(tenant_ids), "scope_tenant_ids"))
    if where.directions:
        conditions.append(calls.c.direction.in_([direction.value for direction in where.directions]))
    if where.statuses:
        conditions.append(calls.c.status.in_([status.value for status in where.statuses]))
    if where.dispositions:
        conditions.append(calls.c.disposition.in_(list(where.dispositions)))
    if where.started_from is not None:
        conditions.append(calls.c.started_at >= where.started_from)
    if where.started_to is not None:
        conditions.append(calls.c.started_at < where.started_to)
    if where.lead_id is not None:
        conditions.append(calls.c.lead_id == where.lead_id)
    if where.agent_id is not None:
        conditions.append(calls.c.agent_id == where.agent_id)
    return conditions


async def page_calls(
    connection: AsyncConnection,
    *,
    tenant_ids: frozenset[UUID] | None,
    where: CallFilter,
    first: int,
    after: PageKey | None = None,
) -> tuple[list[CallRow], bool]:
    """Up to `first` calls newest first (by start) after `after`, and whether more follow."""
    if tenant_ids is not None and not tenant_ids:
        return [], False
    conditions = _conditions(tenant_ids, where)
    if after is not None:
        conditions.append(after_key(calls.c.started_at, calls.c.id, after))
    query = (
        select(*_CALL_COLUMNS)
        .where(*conditions)
        .order_by(*newest_first(calls.c.started_at, calls.c.id))
        .limit(first + 1)
    )
    rows = (await connection.execute(query)).all()
    return [CallRow.from_db(row) for row in rows[:first]], len(rows) > first


async def count_calls(
    connection: AsyncConnection, *, tenant_ids: frozenset[UUID] | None, where: CallFilter
) -> int:
    if tenant_ids is not None and not tenant_ids:
        return 0
    query = select(func.count()).select_from(calls).where(*_conditions(tenant_ids, where))
    return int((await connection.execute(query)).scalar_one())


CALL_EXPORT_COLUMNS = (
    calls.c.id.label("call_id"),
    calls.c.tenant_id,
    tenants.c.slug.label("tenant_slug"),
    tenants.c.timezone.label("tenant_timezone"),
    calls.c.lead_id,
    calls.c.contact_id,
    calls.c.external_id,
    calls.c.direction,
    calls.c.status,
    calls.c.disposition,
    calls.c.booked,
    calls.c.external_number,
    calls.c.internal_number,
    calls.c.agent_id,
    calls.c.agent_name,
    calls.c.agent_email,
    calls.c.started_at,
    calls.c.connected_at,
    calls.c.ended_at,
    calls.c.duration_seconds,
    calls.c.voicemail,
    calls.c.recording_url,
)


async def stream_calls(
    connection: AsyncConnection, *, tenant_ids: frozenset[UUID] | None, where: CallFilter, batch: int
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """Every matching call newest first (by start), with its tenant (CALL_EXPORT_COLUMNS), `batch` rows
    at a time from a server-side cursor (the connection must be in a transaction)."""
    if tenant_ids is not None and not tenant_ids:
        return
    query = (
        select(*CALL_EXPORT_COLUMNS)
        .select_from(calls.join(tenants, tenants.c.id == calls.c.tenant_id))
        .where(*_conditions(tenant_ids, where))
        .order_by(*newest_first(calls.c.started_at, calls.c.id))
    )
    # Closed with this generator, so an export stopped early closes its cursor at once.
    async with aclosing(stream_in_batches(connection, query, batch)) as batches:
        async for rows in batches:
            yield rows


async def get_calls(connection: AsyncConnection, call_ids: Sequence[UUID]) -> dict[UUID, CallRow]:
    """Calls by id in one statement."""
    rows = await connection.execute(select(*_CALL_COLUMNS).where(uuid_in(calls.c.id, list(call_ids), "ids")))
    return {row.id: CallRow.from_db(row) for row in rows}


async def calls_for_leads(connection: AsyncConnection, lead_ids: Sequence[UUID]) -> dict[UUID, list[CallRow]]:
    """Each lead's customer calls, oldest first, in one statement."""
    rows = await connection.execute(
        select(*_CALL_COLUMNS)
        .where(uuid_in(calls.c.lead_id, list(lead_ids), "ids"), calls.c.is_primary_leg)
        .order_by(calls.c.lead_id, calls.c.started_at, calls.c.id)
    )
    found: dict[UUID, list[CallRow]] = {lead_id: [] for lead_id in lead_ids}
    for row in rows:
        found[row.lead_id].append(CallRow.from_db(row))
    return found


async def legs_of_calls(connection: AsyncConnection, call_ids: Sequence[UUID]) -> dict[UUID, list[CallRow]]:
    """The legs (rows with events) of each call's customer call, by call id, lowest leg id first."""
    of = calls.alias("of_call")
    rows = await connection.execute(
        select(of.c.id.label("of_call"), *_CALL_COLUMNS)
        .join_from(
            of,
            calls,
            (calls.c.tenant_id == of.c.tenant_id) & (calls.c.customer_call_key == of.c.customer_call_key),
        )
        .where(uuid_in(of.c.id, list(call_ids), "ids"), calls.c.event_count > 0)
        .order_by(of.c.id, func.length(calls.c.external_id), calls.c.external_id)
    )
    found: dict[UUID, list[CallRow]] = {call_id: [] for call_id in call_ids}
    for row in rows:
        found[row[0]].append(CallRow.from_db(row[1:]))
    return found


def list_conditions(tenant_ids: frozenset[UUID] | None, where: CallFilter) -> list[ColumnElement[bool]]:
    """The conditions of a call list (customer calls or legs, scope, filter) on `calls`, for statements
    built elsewhere (persistence/graph_reads.py), so a list means the same rows however it is read."""
    return _conditions(tenant_ids, where)
