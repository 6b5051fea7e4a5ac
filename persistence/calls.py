"""Calls and their Dialpad events: storing events once, locking and re-projecting a call, lead facts.

The webhook's hot path, so every statement is Core `text()` and does as much as it can in one
round trip: storing the event and locking its call row is one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.dialpad_events import CallEventFacts
from domain.leads import LeadStatus
from domain.tenants import TenantSettings
from persistence.rows import CallRow
from persistence.snapshots import snapshot


def _call(row: Any) -> CallRow:
    return CallRow.from_mapping(row._mapping)


@dataclass(frozen=True)
class EventTenant:
    """What verifying and projecting a tenant's call events needs."""

    id: UUID
    timezone: str
    dialpad_webhook_secret: str | None
    settings: TenantSettings


_EVENT_TENANT = text("SELECT id, timezone, dialpad_webhook_secret, settings FROM tenants WHERE slug = :slug")


async def get_event_tenant(connection: AsyncConnection, slug: str) -> EventTenant | None:
    row = (await connection.execute(_EVENT_TENANT, {"slug": slug})).first()
    if row is None:
        return None
    return EventTenant(
        id=row.id,
        timezone=row.timezone,
        dialpad_webhook_secret=row.dialpad_webhook_secret,
        settings=TenantSettings.from_json(row.settings),
    )


# Stores the event unless it is a redelivery and, only for a new event, locks (creating if needed)
# its call row: concurrent events of one call then project one after the other. The no-op
# DO UPDATE is what takes the row lock and lets RETURNING yield the existing row as it was.
_STORE_AND_LOCK = text(
    """
    WITH stored AS (
        INSERT INTO call_events (tenant_id, call_external_id, state, event_timestamp_ms, format, raw)
        VALUES (:tenant_id, :call_id, :state, :event_ms, :format, :raw)
        ON CONFLICT (tenant_id, call_external_id, state, event_timestamp_ms) DO NOTHING
        RETURNING id
    )
    INSERT INTO calls (tenant_id, external_id, direction, customer_call_key)
    SELECT :tenant_id, :call_id, :direction, :call_id FROM stored
    ON CONFLICT (tenant_id, external_id) DO UPDATE SET updated_at = calls.updated_at
    RETURNING calls.*, (calls.xmax = 0) AS created
    """
).bindparams(bindparam("raw", type_=JSONB))


@dataclass(frozen=True)
class LockedCall:
    """A call row as it was before this event, locked; `created` when this event made it."""

    call: CallRow
    created: bool


async def store_event_and_lock_call(
    connection: AsyncConnection, *, tenant_id: UUID, facts: CallEventFacts, raw: dict[str, Any]
) -> LockedCall | None:
    """Store the raw event once; for a new event the call row as it was, now locked; None = duplicate."""
    row = (
        await connection.execute(
            _STORE_AND_LOCK,
            {
                "tenant_id": tenant_id,
                "call_id": facts.call_id,
                "state": facts.state,
                "event_ms": facts.event_ms,
                "format": facts.format,
                "raw": raw,
                "direction": facts.direction.value,
            },
        )
    ).first()
    return LockedCall(call=_call(row), created=row.created) if row is not None else None


_EVENT_PAYLOADS = text(
    "SELECT raw FROM call_events WHERE tenant_id = :tenant_id AND call_external_id = :call_id "
    "ORDER BY event_timestamp_ms, state"
)


async def call_event_payloads(
    connection: AsyncConnection, *, tenant_id: UUID, call_external_id: str
) -> list[dict[str, Any]]:
    """Every stored event of one call leg, oldest first (run after locking the call to see all)."""
    rows = await connection.execute(_EVENT_PAYLOADS, {"tenant_id": tenant_id, "call_id": call_external_id})
    return [row.raw for row in rows]


_PROJECTED_COLUMNS = (
    "direction",
    "status",
    "from_number",
    "to_number",
    "external_number",
    "internal_number",
    "agent_id",
    "agent_name",
    "agent_email",
    "master_call_id",
    "entry_point_call_id",
    "customer_call_key",
    "is_primary_leg",
    "started_at",
    "rang_at",
    "connected_at",
    "ended_at",
    "duration_seconds",
    "recording_url",
    "voicemail_url",
    "voicemail",
    "last_event_at",
)

# The lead is the contact's latest lead created at or before the call started.
_UPDATE_CALL = text(
    f"""
    UPDATE calls SET {", ".join(f"{name} = :{name}" for name in _PROJECTED_COLUMNS)},
        contact_id = CAST(:contact_id AS uuid),
        lead_id = (
            SELECT id FROM leads
            WHERE contact_id = CAST(:contact_id AS uuid) AND created_at <= CAST(:started_at AS timestamptz)
            ORDER BY created_at DESC, id DESC LIMIT 1
        ),
        updated_at = now()
    WHERE id = :id
    RETURNING *
    """
)


def projection_differs(call: CallRow, columns: dict[str, object], contact_id: UUID | None) -> bool:
    """True when writing `columns` and `contact_id` would change the call row."""
    if call.contact_id != contact_id:
        return True
    return any(getattr(call, name) != columns[name] for name in _PROJECTED_COLUMNS)


async def update_call(
    connection: AsyncConnection, *, call_id: UUID, columns: dict[str, object], contact_id: UUID | None
) -> CallRow:
    """Write a call's projected columns and contact, and (re)link its lead; returns the new row."""
    params = {name: columns[name] for name in _PROJECTED_COLUMNS}
    params.update(id=call_id, contact_id=contact_id)
    return _call((await connection.execute(_UPDATE_CALL, params)).one())


_CALL_FOR_UPDATE = text(
    """
    SELECT calls.*, tenants.settings AS tenant_settings
    FROM calls JOIN tenants ON tenants.id = calls.tenant_id
    WHERE calls.id = :id
    FOR NO KEY UPDATE OF calls
    """
)


async def get_call_for_update(
    connection: AsyncConnection, call_id: UUID
) -> tuple[CallRow, TenantSettings] | None:
    """A call, locked, with its tenant's settings; None when unknown."""
    row = (await connection.execute(_CALL_FOR_UPDATE, {"id": call_id})).first()
    if row is None:
        return None
    return _call(row), TenantSettings.from_json(row.tenant_settings)


_SET_DISPOSITION = text(
    """
    UPDATE calls SET disposition = :disposition, disposition_raw = :disposition_raw, booked = :booked,
        updated_at = now()
    WHERE id = :id
    RETURNING *
    """
)


async def set_disposition(
    connection: AsyncConnection, *, call_id: UUID, disposition: str, disposition_raw: str, booked: bool
) -> CallRow:
    row = (
        await connection.execute(
            _SET_DISPOSITION,
            {"id": call_id, "disposition": disposition, "disposition_raw": disposition_raw, "booked": booked},
        )
    ).one()
    return _call(row)


@dataclass(frozen=True)
class LeadFacts:
    """A lead's status after a facts update, and which derived columns the update changed."""

    status: LeadStatus
    changes: tuple[str, ...]


# Each derived time only moves earlier (LEAST), so facts from events in any order converge.
# An attempt or connect before the lead was created is not the lead's.
_LEAD_FACTS = text(
    """
    WITH cur AS (
        SELECT id, status, created_at, first_attempt_at, first_connected_at, booked_at
        FROM leads WHERE id = :lead_id FOR NO KEY UPDATE
    ),
    calc AS (
        SELECT id, status, first_attempt_at AS old_attempt, first_connected_at AS old_connected,
            booked_at AS old_booked,
            CASE WHEN CAST(:attempt_at AS timestamptz) >= created_at
                THEN LEAST(coalesce(first_attempt_at, :attempt_at), :attempt_at)
                ELSE first_attempt_at END AS new_attempt,
            CASE WHEN CAST(:connected_at AS timestamptz) >= created_at
                THEN LEAST(coalesce(first_connected_at, :connected_at), :connected_at)
                ELSE first_connected_at END AS new_connected,
            CASE WHEN CAST(:booked_at AS timestamptz) IS NOT NULL
                THEN LEAST(coalesce(booked_at, :booked_at), :booked_at)
                ELSE booked_at END AS new_booked
        FROM cur
    ),
    changed AS (
        UPDATE leads SET first_attempt_at = calc.new_attempt, first_connected_at = calc.new_connected,
            booked_at = calc.new_booked, updated_at = now()
        FROM calc
        WHERE leads.id = calc.id AND (
            calc.new_attempt IS DISTINCT FROM calc.old_attempt
            OR calc.new_connected IS DISTINCT FROM calc.old_connected
            OR calc.new_booked IS DISTINCT FROM calc.old_booked)
        RETURNING leads.id
    )
    SELECT status, old_attempt, old_connected, old_booked, new_attempt, new_connected, new_booked FROM calc
    """
)


async def update_lead_facts(
    connection: AsyncConnection,
    *,
    lead_id: UUID,
    attempt_at: datetime | None = None,
    connected_at: datetime | None = None,
    booked_at: datetime | None = None,
) -> LeadFacts | None:
    """Fold one call's attempt / connect / booking times into its lead (locked); None if no such lead."""
    row = (
        await connection.execute(
            _LEAD_FACTS,
            {
                "lead_id": lead_id,
                "attempt_at": attempt_at,
                "connected_at": connected_at,
                "booked_at": booked_at,
            },
        )
    ).first()
    if row is None:
        return None
    changes = tuple(
        column
        for column, old, new in (
            ("first_attempt_at", row.old_attempt, row.new_attempt),
            ("first_connected_at", row.old_connected, row.new_connected),
            ("booked_at", row.old_booked, row.new_booked),
        )
        if old != new
    )
    return LeadFacts(status=LeadStatus(row.status), changes=changes)


async def lead_with_contact(
    connection: AsyncConnection, lead_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Snapshots of a lead (without raw_data) and its contact, for event payloads."""
    lead = (await connection.execute(text("SELECT * FROM leads WHERE id = :id"), {"id": lead_id})).first()
    if lead is None:
        return None
    contact = (
        await connection.execute(text("SELECT * FROM contacts WHERE id = :id"), {"id": lead.contact_id})
    ).one()
    return snapshot(lead, exclude=("raw_data",)), snapshot(contact)


async def count_call_events(connection: AsyncConnection, tenant_id: UUID) -> int:
    """How many events a tenant has stored (the benchmark checks nothing was lost)."""
    result = await connection.execute(
        text("SELECT count(*) FROM call_events WHERE tenant_id = :tenant_id"), {"tenant_id": tenant_id}
    )
    return int(result.scalar_one())
