"""Recomputing every stored call and its leads from `call_events`, under today's rules (migration 0013).

Calls are projections of their stored events, so a change of the rules (issue 14: customer calls,
what connected means, ABANDONED, direction) can be applied to old data by projecting again. Per
tenant: the events are read and parsed, legs are grouped into customer calls
(`domain.call_projection.customer_calls`), and every leg row is rewritten as the webhook would write
it now (the primary leg's row holds the customer call, the others their own leg; named legs without
events get their placeholder row). A disposition a person set on a call with no `dispositions`
event is kept.

Then the leads: `first_attempt_at` and `first_connected_at` are recomputed from the customer calls
of the lead's contact started at or after the lead's creation (a call serves every lead of its
person created at or before it), and a NEW lead now reached moves to CONTACTED. Statuses only move
forward here: a person may have acted on a lead since.

It runs in the migration's transaction on a synchronous connection, one tenant at a time (the
events of one tenant are held in memory while it is recomputed).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from domain.call_projection import (
    CallProjection,
    customer_calls,
    primary_leg,
    project_call,
    project_customer_call,
)
from domain.dialpad_events import CallEventFacts, MalformedEvent, parse_call_event
from domain.dispositions import Disposition, decide_disposition
from domain.errors import BadInput
from domain.phones import region_for_timezone
from domain.tenants import TenantSettings
from persistence.calls import PROJECTED_COLUMNS

_UPSERT = text(
    f"""
    INSERT INTO calls (tenant_id, external_id, {", ".join(PROJECTED_COLUMNS)}, disposition, disposition_raw, booked)
    VALUES (:tenant_id, :external_id, {", ".join(f":{name}" for name in PROJECTED_COLUMNS)}, :disposition,
        :disposition_raw, coalesce(:booked, false))
    ON CONFLICT (tenant_id, external_id) DO UPDATE SET
        {", ".join(f"{name} = EXCLUDED.{name}" for name in PROJECTED_COLUMNS)},
        disposition = CASE WHEN :has_disposition THEN EXCLUDED.disposition ELSE calls.disposition END,
        disposition_raw = CASE WHEN :has_disposition THEN EXCLUDED.disposition_raw ELSE calls.disposition_raw END,
        booked = CASE WHEN :has_disposition THEN EXCLUDED.booked ELSE calls.booked END,
        updated_at = now()
    """
)

# The legs share their primary row's contact, and it links the contact's latest lead created at or
# before the customer call started.
_LINK_LEGS = text(
    """
    WITH primary_rows AS (
        SELECT p.tenant_id, p.customer_call_key, p.contact_id, p.started_at FROM calls AS p
        WHERE p.tenant_id = :tenant_id AND p.is_primary_leg
    ),
    linked AS (
        SELECT pr.*, (
            SELECT l.id FROM leads AS l
            WHERE l.contact_id = pr.contact_id AND l.created_at <= pr.started_at
            ORDER BY l.created_at DESC, l.id DESC LIMIT 1
        ) AS lead_id
        FROM primary_rows AS pr
    )
    UPDATE calls SET contact_id = coalesce(linked.contact_id, calls.contact_id), lead_id = linked.lead_id
    FROM linked
    WHERE calls.tenant_id = linked.tenant_id AND calls.customer_call_key = linked.customer_call_key
        AND (calls.contact_id IS DISTINCT FROM coalesce(linked.contact_id, calls.contact_id)
            OR calls.lead_id IS DISTINCT FROM linked.lead_id)
    """
)

_RECOMPUTE_LEADS = text(
    """
    WITH facts AS (
        SELECT l.id, l.tenant_id, l.status, (
            SELECT min(c.started_at) FROM calls AS c
            WHERE c.contact_id = l.contact_id AND c.is_primary_leg AND c.direction = 'outbound'
                AND c.started_at >= l.created_at
        ) AS attempt_at, (
            SELECT min(c.connected_at) FROM calls AS c
            WHERE c.contact_id = l.contact_id AND c.is_primary_leg AND c.started_at >= l.created_at
        ) AS connected_at
        FROM leads AS l WHERE l.tenant_id = :tenant_id
    ),
    changed AS (
        UPDATE leads SET first_attempt_at = facts.attempt_at, first_connected_at = facts.connected_at,
            status = CASE WHEN facts.status = 'new' AND facts.connected_at IS NOT NULL THEN 'contacted'
                ELSE leads.status END,
            status_changed_at = CASE WHEN facts.status = 'new' AND facts.connected_at IS NOT NULL
                THEN facts.connected_at ELSE leads.status_changed_at END,
            updated_at = now()
        FROM facts
        WHERE leads.id = facts.id AND (leads.first_attempt_at IS DISTINCT FROM facts.attempt_at
            OR leads.first_connected_at IS DISTINCT FROM facts.connected_at
            OR (facts.status = 'new' AND facts.connected_at IS NOT NULL))
        RETURNING leads.id, leads.tenant_id, facts.status AS from_status, leads.status, facts.connected_at
    )
    INSERT INTO lead_status_changes (tenant_id, lead_id, from_status, to_status, changed_by, reason, changed_at)
    SELECT tenant_id, id, from_status, status, NULL, 'call connected', connected_at
    FROM changed WHERE status <> from_status
    """
)


def _disposition(dispositions: tuple[str, ...], settings: TenantSettings) -> Disposition | None:
    try:
        return decide_disposition(dispositions, settings.booked_dispositions) if dispositions else None
    except BadInput:
        return None


def _values(tenant_id: Any, projection: CallProjection, settings: TenantSettings) -> dict[str, Any]:
    values: dict[str, Any] = {name: projection.columns()[name] for name in PROJECTED_COLUMNS}
    disposition = _disposition(projection.dispositions, settings)
    values.update(
        tenant_id=tenant_id,
        external_id=projection.external_id,
        disposition=disposition.value if disposition else None,
        disposition_raw=disposition.raw if disposition else None,
        booked=disposition.booked if disposition else None,
        has_disposition=disposition is not None,
    )
    return values


def _placeholder(tenant_id: Any, call_id: str, customer: CallProjection) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(PROJECTED_COLUMNS)
    values.update(
        tenant_id=tenant_id,
        external_id=call_id,
        direction=customer.direction.value,
        status="ringing",
        customer_call_key=customer.external_id,
        is_primary_leg=False,
        linked=True,
        voicemail=False,
        disposition=None,
        disposition_raw=None,
        booked=None,
        has_disposition=False,
    )
    return values


def recompute_tenant(connection: Connection, tenant_id: Any, timezone: str, settings: TenantSettings) -> None:
    """Rewrite one tenant's calls and lead facts from its stored events (see the module docstring)."""
    region = settings.default_region or region_for_timezone(timezone)
    legs: dict[str, list[CallEventFacts]] = defaultdict(list)
    for call_id, raw in connection.execute(
        text("SELECT call_external_id, raw FROM call_events WHERE tenant_id = :t ORDER BY id"),
        {"t": tenant_id},
    ):
        try:
            facts = parse_call_event(raw if isinstance(raw, dict) else json.loads(raw))
        except MalformedEvent:
            continue
        legs[call_id].append(facts)
    links = {call_id: {link for fact in events for link in fact.links} for call_id, events in legs.items()}
    rows: list[dict[str, Any]] = []
    for group in customer_calls(links):
        with_events = {call_id: legs[call_id] for call_id in group if call_id in legs}
        if not with_events:
            continue
        primary = primary_leg(with_events)
        several = len(group) > 1
        customer = project_customer_call(with_events, primary=primary, region=region, linked=several)
        rows.append(_values(tenant_id, customer, settings))
        for call_id in sorted(group - {primary}):
            if call_id in with_events:
                leg = project_call(with_events[call_id], region=region).as_leg_of(primary)
                rows.append(_values(tenant_id, leg, settings))
            else:
                rows.append(_placeholder(tenant_id, call_id, customer))
    if rows:
        connection.execute(_UPSERT, rows)
    connection.execute(_LINK_LEGS, {"tenant_id": tenant_id})
    connection.execute(_RECOMPUTE_LEADS, {"tenant_id": tenant_id})


def recompute_all(connection: Connection) -> None:
    """Every tenant's calls and lead facts, from their stored events."""
    tenants = connection.execute(text("SELECT id, timezone, settings FROM tenants ORDER BY id")).all()
    for tenant_id, timezone, settings in tenants:
        loaded = settings if isinstance(settings, dict) else json.loads(settings or "{}")
        recompute_tenant(connection, tenant_id, timezone, TenantSettings.from_json(loaded))
