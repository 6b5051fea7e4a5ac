"""Calls and their Dialpad events: storing events once, locking and re-projecting a call, lead facts.

The webhook's hot path, so every statement runs on the driver inside the caller's transaction
(`Transaction.fetchrow`) and does as much as it can in one round trip: storing the event, locking
its call row and reading the call's history is one statement.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from persistence.db import DriverStatement
from persistence.leads import json_snapshot_sql
from persistence.rows import CallRow
from persistence.tables import Contact, Lead
from persistence.unit_of_work import Transaction


def _call(row: Mapping[str, Any]) -> CallRow:
    return CallRow.from_mapping(row)


def _json(value: Any) -> Any:
    """A json/jsonb value from the driver (text) as Python data."""
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class EventTenant:
    """What verifying and projecting a tenant's call events needs."""

    id: UUID
    timezone: str
    dialpad_webhook_secret: str | None
    settings: TenantSettings


_EVENT_TENANT = DriverStatement(
    text("SELECT id, timezone, dialpad_webhook_secret, settings FROM tenants WHERE slug = :slug")
)


async def get_event_tenant(tx: Transaction, slug: str) -> EventTenant | None:
    row = await tx.fetchrow(_EVENT_TENANT, {"slug": slug})
    if row is None:
        return None
    return EventTenant(
        id=row["id"],
        timezone=row["timezone"],
        dialpad_webhook_secret=row["dialpad_webhook_secret"],
        settings=TenantSettings.from_json(_json(row["settings"])),
    )


# Stores the event unless it is a redelivery and, only for a new event, locks (creating if needed)
# its call row: concurrent events of one call then project one after the other. The no-op
# DO UPDATE is what takes the row lock and lets RETURNING yield the existing row as it was.
#
# The same statement reads the call's stored events, which saves a round trip, but they come from
# the statement's snapshot, taken before the lock was granted. They are complete only if no other
# transaction changed the call row since that snapshot: every writer of a call's events also
# updates its row, so the DO UPDATE runs only when the locked version is the one the snapshot saw
# (same xmin). Otherwise the row is locked all the same, RETURNING yields nothing, and the caller
# reads the history again under the lock (`call_history`).
_STORE_AND_LOCK = DriverStatement(
    text(
        """
    WITH seen AS (
        SELECT xmin AS version FROM calls WHERE tenant_id = :tenant_id AND external_id = :call_id
    ),
    history AS (
        SELECT coalesce(jsonb_agg(raw ORDER BY event_timestamp_ms, state), '[]') AS payloads
        FROM call_events WHERE tenant_id = :tenant_id AND call_external_id = :call_id
    ),
    stored AS (
        INSERT INTO call_events (tenant_id, call_external_id, state, event_timestamp_ms, format, raw)
        VALUES (:tenant_id, :call_id, :state, :event_ms, :format, :raw)
        ON CONFLICT (tenant_id, call_external_id, state, event_timestamp_ms) DO NOTHING
        RETURNING id
    ),
    locked AS (
        INSERT INTO calls (tenant_id, external_id, direction, customer_call_key)
        SELECT :tenant_id, :call_id, :direction, :call_id FROM stored
        ON CONFLICT (tenant_id, external_id) DO UPDATE SET updated_at = calls.updated_at
            WHERE calls.xmin = (SELECT version FROM seen)
        RETURNING calls.*, (calls.xmax = 0) AS created
    )
    SELECT EXISTS (SELECT 1 FROM stored) AS stored, history.payloads AS history, locked.*
    FROM history LEFT JOIN locked ON true
    """
    ).bindparams(bindparam("raw", type_=JSONB))
)

_LOCKED_CALL_AND_HISTORY = DriverStatement(
    text(
        """
    SELECT calls.*, false AS created, (
        SELECT coalesce(jsonb_agg(raw ORDER BY event_timestamp_ms, state), '[]') FROM call_events
        WHERE call_events.tenant_id = calls.tenant_id AND call_events.call_external_id = calls.external_id
            AND (call_events.state, call_events.event_timestamp_ms) <> (:state, :event_ms)
    ) AS history
    FROM calls WHERE tenant_id = :tenant_id AND external_id = :call_id
    """
    )
)


@dataclass(frozen=True)
class LockedCall:
    """A call row as it was before this event, locked; `created` when this event made it.

    `history` holds the raw payloads of the call's other stored events, oldest first."""

    call: CallRow
    created: bool
    history: list[dict[str, Any]]


async def store_event_and_lock_call(
    tx: Transaction, *, tenant_id: UUID, facts: CallEventFacts, raw: dict[str, Any]
) -> LockedCall | None:
    """Store the raw event once; for a new event the call row as it was, now locked; None = duplicate."""
    row = await tx.fetchrow(
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
    assert row is not None  # the statement always yields its one row
    if not row["stored"]:
        return None
    if row["id"] is None:
        # Another transaction changed the call after this statement's snapshot: read it again.
        row = await tx.fetchrow(
            _LOCKED_CALL_AND_HISTORY,
            {
                "tenant_id": tenant_id,
                "call_id": facts.call_id,
                "state": facts.state,
                "event_ms": facts.event_ms,
            },
        )
        assert row is not None  # locked by this transaction, so it exists
    return LockedCall(call=_call(row), created=row["created"], history=_json(row["history"]))


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

# The contact is the given one, or (when `contact_phone` is set) the tenant's contact with that
# E.164 phone, created if unknown and race-safe, as in `persistence.contacts`. The lead is the
# contact's latest lead created at or before the call started.
_UPDATE_CALL = DriverStatement(
    text(
        f"""
    WITH ensured AS (
        INSERT INTO contacts (tenant_id, phone, name)
        SELECT :tenant_id, CAST(:contact_phone AS text), CAST(:contact_name AS text)
        WHERE CAST(:contact_phone AS text) IS NOT NULL
        ON CONFLICT (tenant_id, phone) DO UPDATE SET name = coalesce(contacts.name, EXCLUDED.name)
        RETURNING id
    ),
    contact AS (SELECT coalesce((SELECT id FROM ensured), CAST(:contact_id AS uuid)) AS id)
    UPDATE calls SET {", ".join(f"{name} = :{name}" for name in _PROJECTED_COLUMNS)},
        contact_id = (SELECT id FROM contact),
        lead_id = (
            SELECT leads.id FROM leads
            WHERE leads.contact_id = (SELECT id FROM contact)
                AND leads.created_at <= CAST(:started_at AS timestamptz)
            ORDER BY leads.created_at DESC, leads.id DESC LIMIT 1
        ),
        updated_at = now()
    WHERE id = :id
    RETURNING *
    """
    )
)


def projection_differs(call: CallRow, columns: dict[str, object], contact_id: UUID | None) -> bool:
    """True when writing `columns` and `contact_id` would change the call row."""
    if call.contact_id != contact_id:
        return True
    return any(getattr(call, name) != columns[name] for name in _PROJECTED_COLUMNS)


@dataclass(frozen=True)
class CallContact:
    """Who a call is with: a known contact id, or a phone whose contact is found or made."""

    contact_id: UUID | None = None
    phone_e164: str | None = None
    name: str | None = None


async def update_call(
    tx: Transaction, *, call: CallRow, columns: dict[str, object], contact: CallContact
) -> CallRow:
    """Write a call's projected columns and contact, and (re)link its lead; returns the new row."""
    params: dict[str, Any] = {name: columns[name] for name in _PROJECTED_COLUMNS}
    params.update(
        id=call.id,
        tenant_id=call.tenant_id,
        contact_id=contact.contact_id,
        contact_phone=contact.phone_e164,
        contact_name=contact.name,
    )
    row = await tx.fetchrow(_UPDATE_CALL, params)
    assert row is not None  # the caller holds the call's lock
    return _call(row)


_CALL_FOR_UPDATE = DriverStatement(
    text(
        """
    SELECT calls.*, tenants.settings AS tenant_settings
    FROM calls JOIN tenants ON tenants.id = calls.tenant_id
    WHERE calls.id = :id
    FOR NO KEY UPDATE OF calls
    """
    )
)


async def get_call_for_update(tx: Transaction, call_id: UUID) -> tuple[CallRow, TenantSettings] | None:
    """A call, locked, with its tenant's settings; None when unknown."""
    row = await tx.fetchrow(_CALL_FOR_UPDATE, {"id": call_id})
    if row is None:
        return None
    return _call(row), TenantSettings.from_json(_json(row["tenant_settings"]))


_SET_DISPOSITION = DriverStatement(
    text(
        """
    UPDATE calls SET disposition = :disposition, disposition_raw = :disposition_raw, booked = :booked,
        updated_at = now()
    WHERE id = :id
    RETURNING *
    """
    )
)


async def set_disposition(
    tx: Transaction, *, call_id: UUID, disposition: str, disposition_raw: str, booked: bool
) -> CallRow:
    row = await tx.fetchrow(
        _SET_DISPOSITION,
        {"id": call_id, "disposition": disposition, "disposition_raw": disposition_raw, "booked": booked},
    )
    assert row is not None  # the caller holds the call's lock
    return _call(row)


@dataclass(frozen=True)
class LeadFacts:
    """A lead's status after a facts update, and which derived columns the update changed."""

    status: LeadStatus
    changes: tuple[str, ...]


# Each derived time only moves earlier (LEAST), so facts from events in any order converge.
# An attempt or connect before the lead was created is not the lead's.
_LEAD_FACTS = DriverStatement(
    text(
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
)


async def update_lead_facts(
    tx: Transaction,
    *,
    lead_id: UUID,
    attempt_at: datetime | None = None,
    connected_at: datetime | None = None,
    booked_at: datetime | None = None,
) -> LeadFacts | None:
    """Fold one call's attempt / connect / booking times into its lead (locked); None if no such lead."""
    row = await tx.fetchrow(
        _LEAD_FACTS,
        {"lead_id": lead_id, "attempt_at": attempt_at, "connected_at": connected_at, "booked_at": booked_at},
    )
    if row is None:
        return None
    changes = tuple(
        column
        for column, old, new in (
            ("first_attempt_at", row["old_attempt"], row["new_attempt"]),
            ("first_connected_at", row["old_connected"], row["new_connected"]),
            ("booked_at", row["old_booked"], row["new_booked"]),
        )
        if old != new
    )
    return LeadFacts(status=LeadStatus(row["status"]), changes=changes)


# CALL_UPDATED from the caller's payload, then LEAD_UPDATED with the lead's and contact's snapshots
# as committed by this transaction (read here, not by two more round trips) plus the caller's fields.
_RECORD_CALL_EVENTS = DriverStatement(
    text(
        f"""
    INSERT INTO events (tenant_id, type, payload)
    SELECT CAST(:tenant_id AS uuid), 'CALL_UPDATED', CAST(:call_payload AS jsonb)
    WHERE CAST(:call_payload AS jsonb) IS NOT NULL
    UNION ALL
    SELECT l.tenant_id, 'LEAD_UPDATED', jsonb_build_object(
        'lead', {json_snapshot_sql("l", Lead.__table__, exclude=("raw_data",))},
        'contact', {json_snapshot_sql("c", Contact.__table__)}) || CAST(:lead_fields AS jsonb)
    FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
    WHERE l.id = CAST(:lead_id AS uuid)
    RETURNING id
    """
    )
)


async def record_call_events(
    tx: Transaction,
    *,
    tenant_id: UUID,
    call_payload: dict[str, Any] | None,
    lead_id: UUID | None,
    lead_fields: dict[str, Any],
) -> None:
    """CALL_UPDATED (when `call_payload` is given) and LEAD_UPDATED (when `lead_id` is) in one statement."""
    if call_payload is None and lead_id is None:
        return
    await tx.fetch(
        _RECORD_CALL_EVENTS,
        {
            "tenant_id": tenant_id,
            "call_payload": json.dumps(call_payload, separators=(",", ":")) if call_payload else None,
            "lead_id": lead_id,
            "lead_fields": json.dumps(lead_fields, separators=(",", ":")),
        },
    )
    tx.event_tenants.add(tenant_id)


async def count_call_events(connection: AsyncConnection, tenant_id: UUID) -> int:
    """How many events a tenant has stored (the benchmark checks nothing was lost)."""
    result = await connection.execute(
        text("SELECT count(*) FROM call_events WHERE tenant_id = :tenant_id"), {"tenant_id": tenant_id}
    )
    return int(result.scalar_one())
