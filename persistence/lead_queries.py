"""Reading leads, contacts and lead status history: by id in batches, and filtered keyset pages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, ColumnElement, Select, and_, exists, false, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import LeadStatus
from persistence.keyset import PageKey, after_key, newest_first, stream_in_batches, uuid_in
from persistence.rows import ContactRow, LeadRow, StatusChangeRow
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql
from persistence.tables import Call, Contact, Lead, LeadStatusChange, Tenant

leads = Lead.__table__
contacts = Contact.__table__
status_changes = LeadStatusChange.__table__
tenants = Tenant.__table__
calls = Call.__table__

_LEAD_COLUMNS = [leads.c[field.name] for field in dataclasses.fields(LeadRow)]
_CONTACT_COLUMNS = [contacts.c[field.name] for field in dataclasses.fields(ContactRow)]
_CHANGE_COLUMNS = [status_changes.c[field.name] for field in dataclasses.fields(StatusChangeRow)]


@dataclass(frozen=True)
class CreatedWindow:
    """Leads of one tenant with `after < created_at <= until` (either side open when None)."""

    tenant_id: UUID
    after: datetime | None
    until: datetime | None


@dataclass(frozen=True)
class LeadFilter:
    statuses: tuple[LeadStatus, ...] = ()
    sources: tuple[str, ...] = ()
    # Half-open [created_from, created_to).
    created_from: datetime | None = None
    created_to: datetime | None = None
    # Matches the contact's name or email (substring, any case) or phone (digits).
    search: str | None = None
    # The pipeline-stage filter, resolved by the caller into per-tenant created_at windows;
    # None = no stage filter, empty = matches nothing.
    created_windows: tuple[CreatedWindow, ...] | None = None
    # Leads this agent (Dialpad user id) attempted: placed an outbound customer call to.
    attempted_by: str | None = None


def _attempts(*conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """A lead's attempts: the database's one attempt rule (`calltrax_is_attempt`,
    persistence/sql/call_attempt_facts.sql; the planner inlines it, so the contact's call index
    still serves the lookup)."""
    attempt = func.calltrax_is_attempt(
        calls.c.contact_id,
        calls.c.direction,
        calls.c.is_primary_leg,
        calls.c.started_at,
        leads.c.contact_id,
        leads.c.created_at,
        type_=Boolean,
    )
    return [attempt, *conditions]


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _scope(tenant_ids: frozenset[UUID] | None) -> list[ColumnElement[bool]]:
    if tenant_ids is None:
        return []
    if len(tenant_ids) == 1:
        return [leads.c.tenant_id == next(iter(tenant_ids))]
    return [uuid_in(leads.c.tenant_id, sorted(tenant_ids), "scope_tenant_ids")]


def _conditions(tenant_ids: frozenset[UUID] | None, where: LeadFilter) -> list[ColumnElement[bool]]:
    conditions = _scope(tenant_ids)
    if where.statuses:
        conditions.append(leads.c.status.in_([status.value for status in where.statuses]))
    if where.sources:
        conditions.append(leads.c.source.in_(list(where.sources)))
    if where.created_from is not None:
        conditions.append(leads.c.created_at >= where.created_from)
    if where.created_to is not None:
        conditions.append(leads.c.created_at < where.created_to)
    if where.created_windows is not None:
        windows: list[ColumnElement[bool]] = []
        for window in where.created_windows:
            parts = [leads.c.tenant_id == window.tenant_id]
            if window.after is not None:
                parts.append(leads.c.created_at > window.after)
            if window.until is not None:
                parts.append(leads.c.created_at <= window.until)
            windows.append(and_(*parts))
        conditions.append(or_(*windows) if windows else false())
    if where.attempted_by is not None:
        conditions.append(exists().where(*_attempts(calls.c.agent_id == where.attempted_by)))
    if where.search and where.search.strip():
        text = where.search.strip()
        matches: list[ColumnElement[bool]] = [
            contacts.c.name.ilike(_like(text)),
            contacts.c.email.ilike(_like(text)),
        ]
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 3:
            matches.append(contacts.c.phone.like(_like(digits)))
        matching_contacts = select(contacts.c.id).where(or_(*matches))
        if tenant_ids is not None:
            matching_contacts = matching_contacts.where(
                uuid_in(contacts.c.tenant_id, sorted(tenant_ids), "search_tenant_ids")
            )
        conditions.append(leads.c.contact_id.in_(matching_contacts))
    return conditions


def _page_query(
    tenant_ids: frozenset[UUID] | None, where: LeadFilter, first: int, after: PageKey | None
) -> Select[tuple[object, ...]]:
    conditions = _conditions(tenant_ids, where)
    if after is not None:
        conditions.append(after_key(leads.c.created_at, leads.c.id, after))
    return (
        select(*_LEAD_COLUMNS)
        .where(*conditions)
        .order_by(*newest_first(leads.c.created_at, leads.c.id))
        .limit(first + 1)
    )


async def page_leads(
    connection: AsyncConnection,
    *,
    tenant_ids: frozenset[UUID] | None,
    where: LeadFilter,
    first: int,
    after: PageKey | None = None,
) -> tuple[list[LeadRow], bool]:
    """Up to `first` leads newest first after `after`, and whether more follow; None tenants = all."""
    if tenant_ids is not None and not tenant_ids:
        return [], False
    rows = (await connection.execute(_page_query(tenant_ids, where, first, after))).all()
    return [LeadRow.from_db(row) for row in rows[:first]], len(rows) > first


async def count_leads(
    connection: AsyncConnection, *, tenant_ids: frozenset[UUID] | None, where: LeadFilter
) -> int:
    """How many leads match (the connection's totalCount)."""
    if tenant_ids is not None and not tenant_ids:
        return 0
    query = select(func.count()).select_from(leads).where(*_conditions(tenant_ids, where))
    return int((await connection.execute(query)).scalar_one())


# Joined under another name: the search filter's subquery on `contacts` must stay uncorrelated.
_export_contact = contacts.alias("export_contact")

LEAD_EXPORT_COLUMNS = (
    leads.c.id.label("lead_id"),
    leads.c.tenant_id,
    tenants.c.slug.label("tenant_slug"),
    tenants.c.timezone.label("tenant_timezone"),
    leads.c.created_at,
    leads.c.status,
    leads.c.source,
    _export_contact.c.name.label("contact_name"),
    _export_contact.c.phone.label("contact_phone"),
    _export_contact.c.email.label("contact_email"),
    leads.c.city,
    leads.c.notes,
    leads.c.external_id,
    leads.c.status_changed_at,
    leads.c.first_attempt_at,
    leads.c.first_connected_at,
    leads.c.booked_at,
    leads.c.sla_breached_at,
    select(func.count()).where(*_attempts()).scalar_subquery().label("attempts"),
    # Kept by the attempt-facts trigger (persistence/sql/call_attempt_facts.sql).
    leads.c.attempts_to_contact,
    leads.c.first_attempt_agent_id,
    select(calls.c.agent_name)
    .where(*_attempts(calls.c.started_at == leads.c.first_attempt_at))
    .order_by(calls.c.agent_id)
    .limit(1)
    .scalar_subquery()
    .label("first_attempt_agent_name"),
)


async def stream_leads(
    connection: AsyncConnection, *, tenant_ids: frozenset[UUID] | None, where: LeadFilter, batch: int
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """Every matching lead newest first, with its contact and tenant (LEAD_EXPORT_COLUMNS), `batch` rows
    at a time from a server-side cursor (the connection must be in a transaction)."""
    if tenant_ids is not None and not tenant_ids:
        return
    query = (
        select(*LEAD_EXPORT_COLUMNS)
        .select_from(
            leads.join(_export_contact, _export_contact.c.id == leads.c.contact_id).join(
                tenants, tenants.c.id == leads.c.tenant_id
            )
        )
        .where(*_conditions(tenant_ids, where))
        .order_by(*newest_first(leads.c.created_at, leads.c.id))
    )
    # Closed with this generator, so an export stopped early closes its cursor at once.
    async with aclosing(stream_in_batches(connection, query, batch)) as batches:
        async for rows in batches:
            yield rows


async def get_leads(connection: AsyncConnection, lead_ids: Sequence[UUID]) -> dict[UUID, LeadRow]:
    """Leads by id in one statement."""
    rows = await connection.execute(select(*_LEAD_COLUMNS).where(uuid_in(leads.c.id, list(lead_ids), "ids")))
    return {row.id: LeadRow.from_db(row) for row in rows}


async def get_lead(connection: AsyncConnection, lead_id: UUID) -> LeadRow | None:
    return (await get_leads(connection, [lead_id])).get(lead_id)


async def get_contacts(connection: AsyncConnection, contact_ids: Sequence[UUID]) -> dict[UUID, ContactRow]:
    """Contacts by id in one statement."""
    rows = await connection.execute(
        select(*_CONTACT_COLUMNS).where(uuid_in(contacts.c.id, list(contact_ids), "ids"))
    )
    return {row.id: ContactRow.from_db(row) for row in rows}


async def status_changes_for_leads(
    connection: AsyncConnection, lead_ids: Sequence[UUID]
) -> dict[UUID, list[StatusChangeRow]]:
    """Each lead's status history, oldest first, in one statement."""
    rows = await connection.execute(
        select(*_CHANGE_COLUMNS)
        .where(uuid_in(status_changes.c.lead_id, list(lead_ids), "ids"))
        .order_by(status_changes.c.lead_id, status_changes.c.changed_at, status_changes.c.id)
    )
    found: dict[UUID, list[StatusChangeRow]] = {lead_id: [] for lead_id in lead_ids}
    for row in rows:
        found[row.lead_id].append(StatusChangeRow.from_db(row))
    return found


# A lead's timeline: its arrival, its calls (a call at its start, else when it was recorded), its notes
# and its status changes, in time order; equal times keep that order, then each kind's own order.
# The one home of that rule: the resolvers read it through `timeline_for_leads`, the compiled reads
# (persistence/graph_reads.py) nest the same SQL in their statement. `{p}` is the lead row's alias;
# `TIMELINE_ORDER` sorts the rows (`{a}`: the timeline's alias).
# `call_row` carries the call's whole row: the compiled statement builds the entry's `call` from it
# without looking the call up again (0.51 -> 0.46 ms for the bench's lead(id) page, one run, loaded).
TIMELINE = (
    "SELECT {p}.created_at AS at, 'created' AS kind, NULL::uuid AS call_id, NULL::calls AS call_row, "
    "NULL::uuid AS note_id, NULL::bigint AS change_id, 0 AS grp, NULL::timestamptz AS o1, NULL::uuid AS o2, "
    "NULL::bigint AS o3 "
    "UNION ALL SELECT coalesce(c.started_at, c.created_at), 'call', c.id, c, NULL, NULL, 1, c.started_at, "
    "c.id, NULL FROM calls c WHERE c.lead_id = {p}.id AND c.is_primary_leg "
    "UNION ALL SELECT n.created_at, 'note', NULL, NULL, n.id, NULL, 2, n.created_at, n.id, NULL "
    "FROM lead_notes n WHERE n.lead_id = {p}.id "
    "UNION ALL SELECT s.changed_at, 'status_change', NULL, NULL, NULL, s.id, 3, s.changed_at, NULL, s.id "
    "FROM lead_status_changes s WHERE s.lead_id = {p}.id"
)
TIMELINE_ORDER = "{a}.at, {a}.grp, {a}.o1, {a}.o2, {a}.o3"

_TIMELINE_FOR_LEADS = text(
    "SELECT l.id AS lead_id, t.kind, t.at, t.call_id, t.note_id, t.change_id "
    f"FROM leads l CROSS JOIN LATERAL ({TIMELINE.format(p='l')}) t "
    f"WHERE l.id = ANY(:ids) ORDER BY l.id, {TIMELINE_ORDER.format(a='t')}"
)


@dataclass(frozen=True)
class TimelineItem:
    """One entry of a lead's timeline: `kind` names which of the ids is set (none for `created`)."""

    kind: str
    at: datetime
    call_id: UUID | None
    note_id: UUID | None
    change_id: int | None


async def timeline_for_leads(
    connection: AsyncConnection, lead_ids: Sequence[UUID]
) -> dict[UUID, list[TimelineItem]]:
    """Each lead's timeline in order (`TIMELINE`), in one statement."""
    rows = await connection.execute(_TIMELINE_FOR_LEADS, {"ids": list(lead_ids)})
    found: dict[UUID, list[TimelineItem]] = {lead_id: [] for lead_id in lead_ids}
    for row in rows:
        found[row.lead_id].append(TimelineItem(row.kind, row.at, row.call_id, row.note_id, row.change_id))
    return found


# A lead event's snapshots (persistence/snapshots.py), in one statement.
_LEAD_EVENT_SNAPSHOTS = text(
    f"SELECT {lead_snapshot_sql('l')} AS lead, {contact_snapshot_sql('c')} AS contact "
    "FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id WHERE l.id = :id"
)


async def lead_event_payload(
    connection: AsyncConnection, lead_id: UUID, *, changes: list[str]
) -> dict[str, Any]:
    """A LEAD_UPDATED payload (domain/events.py conventions) for the lead as it now is in this transaction."""
    row = (await connection.execute(_LEAD_EVENT_SNAPSHOTS, {"id": lead_id})).one()
    return {"lead": row.lead, "contact": row.contact, "changes": changes}


def list_conditions(tenant_ids: frozenset[UUID] | None, where: LeadFilter) -> list[ColumnElement[bool]]:
    """The conditions of a lead list (scope and filter) on `leads`, for statements built elsewhere
    (persistence/graph_reads.py), so a list means the same rows however it is read."""
    return _conditions(tenant_ids, where)
