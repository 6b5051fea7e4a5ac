"""Leads: the one-statement intake (token check, idempotency, contact merge, lead, event) and lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Text, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from domain.errors import Unavailable
from domain.events import EventType
from domain.leads import LeadStatus
from persistence.contacts import (
    CONTACT_PARAMS,
    MERGE_CONTACT_CTES,
    ContactFields,
    ContactRaced,
    contact_values,
    is_contact_race,
)
from persistence.db import DriverStatement
from persistence.dialpad_company import ANY_WAITING_AT_NUMBER
from persistence.errors import LOST_RACE, is_lost_race, is_outage
from persistence.lead_stages import stage_sql
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql
from persistence.unit_of_work import Statements


@dataclass(frozen=True)
class RegionCheck:
    """What the caller assumed about the tenant when it normalised a national phone number.

    The intake statement writes only if the tenant still has these values, so a cached assumption
    can never produce a wrongly normalised phone."""

    timezone: str
    default_region: str | None


@dataclass(frozen=True)
class LeadIntake:
    """The outcome of `ingest`: `webhook_found` False means unknown, inactive, or a failed region check."""

    webhook_found: bool
    tenant_id: UUID | None = None
    # Set when an earlier lead has the same idempotency key or source id: nothing was written.
    existing_lead_id: UUID | None = None
    existing_contact_id: UUID | None = None
    # Set when the lead was written (with its contact merge and its LEAD_CREATED event row).
    lead_id: UUID | None = None
    contact_id: UUID | None = None
    # A concurrent request with the same key committed first; this one wrote nothing.
    lost_race: bool = False
    # Dialpad events wait in the company inbox at the new lead's phone (checked after the commit).
    calls_waiting: bool = False


# One statement does the whole write, so it runs without BEGIN/COMMIT round trips and is still atomic.
# `hook` checks the token (rotation and deactivation take effect at once) and, when the caller
# normalised a national number, that the tenant's region inputs are what it assumed. `existing`
# finds an earlier lead with the same key; then nothing is written. The lead insert's ON CONFLICT
# covers both partial unique keys: when a concurrent duplicate committed first it inserts nothing,
# and the final SELECT fails on purpose (calltrax_abort, SQLSTATE `errors.LOST_RACE`) so this statement's contact
# merge is undone too. A new lead is open, so it starts in the column of age zero (Follow Up 1 unless
# the tenant's first bound is zero). The event row carries the snapshots subscribers need; the relay numbers it.
_INGEST = text(
    f"""
WITH hook AS (
    SELECT lw.id AS webhook_id, lw.tenant_id, lw.label, t.settings
    FROM lead_webhooks AS lw JOIN tenants AS t ON t.id = lw.tenant_id
    WHERE lw.token = :token AND lw.active
      AND (NOT (SELECT :check_region)
           OR (t.timezone = :timezone AND coalesce(t.settings ->> 'default_region', '') = :default_region))
),
existing AS (
    SELECT found.id, found.contact_id FROM (
        SELECT l.id, l.contact_id, 1 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.idempotency_key = (SELECT :idempotency_key)
        UNION ALL
        SELECT l.id, l.contact_id, 2 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.external_id = (SELECT :external_id)
    ) AS found
    ORDER BY found.rank LIMIT 1
),
{MERGE_CONTACT_CTES.format(go="NOT EXISTS (SELECT 1 FROM existing)")},
new_lead AS (
    INSERT INTO leads AS l (tenant_id, contact_id, lead_webhook_id, source, status, notes, city, raw_data,
                           external_id, idempotency_key, created_at, updated_at, stage)
    SELECT hook.tenant_id, contact.id, hook.webhook_id, coalesce(:source, hook.label, 'webhook'), :status,
           :notes, :city, :raw_data, :external_id, :idempotency_key, :at, :at,
           {stage_sql(created_at="CAST(:at AS timestamptz)", settings="hook.settings", now="CAST(:at AS timestamptz)")}
    FROM hook JOIN contact ON true
    ON CONFLICT DO NOTHING
    RETURNING l.*
),
new_event AS (
    INSERT INTO events (tenant_id, type, payload)
    SELECT new_lead.tenant_id, :event_type, jsonb_build_object(
        'lead', {lead_snapshot_sql("new_lead")},
        'contact', {contact_snapshot_sql("contact")})
    FROM new_lead JOIN contact ON true
    RETURNING id
)
SELECT hook.tenant_id AS tenant_id, existing.id AS existing_lead_id, existing.contact_id AS existing_contact_id,
       new_lead.id AS lead_id, contact.id AS contact_id,
       CASE WHEN new_lead.id IS NULL AND contact.id IS NOT NULL
            THEN calltrax_abort('{LOST_RACE}', 'a concurrent duplicate lead committed first') END AS lost_race
FROM hook
LEFT JOIN existing ON true
LEFT JOIN new_lead ON true
LEFT JOIN contact ON true
"""
).bindparams(
    *CONTACT_PARAMS,
    bindparam("token", type_=Text),
    bindparam("check_region", type_=Boolean),
    bindparam("timezone", type_=Text),
    bindparam("default_region", type_=Text),
    bindparam("idempotency_key", type_=Text),
    bindparam("external_id", type_=Text),
    bindparam("source", type_=Text),
    bindparam("status", type_=Text),
    bindparam("notes", type_=Text),
    bindparam("raw_data", type_=JSONB),
    bindparam("event_type", type_=Text),
)

# The hottest statement in CallTrax: run on the driver (see persistence.db.DriverStatement).
INGEST = DriverStatement(_INGEST)


async def ingest(
    work: Statements,
    *,
    token: str,
    region_check: RegionCheck | None,
    contact: ContactFields,
    source: str | None,
    notes: str | None,
    raw_data: dict[str, Any],
    external_id: str | None,
    idempotency_key: str | None,
    received_at: datetime,
) -> LeadIntake:
    """Write a lead arriving on webhook `token`, its contact merge and its LEAD_CREATED event row.

    One statement on `work`'s autocommit connection (see `_INGEST`), so no BEGIN/COMMIT round
    trips. The written lead's event row is marked on `work` (published as it ends).
    Raises `Unavailable` when the database is down and `ContactRaced` when a retry is needed."""
    values = {
        **contact_values(contact, received_at),
        "token": token,
        "check_region": region_check is not None,
        "timezone": region_check.timezone if region_check else "",
        "default_region": (region_check.default_region or "") if region_check else "",
        "idempotency_key": idempotency_key,
        "external_id": external_id,
        "source": source,
        "status": LeadStatus.NEW.value,
        "notes": notes,
        "raw_data": raw_data,
        "event_type": EventType.LEAD_CREATED.value,
    }
    try:
        row = await work.fetchrow(INGEST, values)
        calls_waiting = False
        if row is not None and row["lead_id"] is not None:
            # The statement inserted the LEAD_CREATED row.
            work.recorded_in_sql(row["tenant_id"])
            if contact.phone is not None:
                calls_waiting = await _calls_waiting(work, contact.phone)
    except DBAPIError as error:
        if is_lost_race(error):
            return LeadIntake(webhook_found=True, lost_race=True)
        if is_contact_race(error):
            raise ContactRaced(str(error.orig)) from error
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        raise
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        raise
    if row is None:
        return LeadIntake(webhook_found=False)
    return LeadIntake(
        webhook_found=True,
        tenant_id=row["tenant_id"],
        existing_lead_id=row["existing_lead_id"],
        existing_contact_id=row["existing_contact_id"],
        lead_id=row["lead_id"],
        contact_id=row["contact_id"],
        calls_waiting=calls_waiting,
    )


async def _calls_waiting(work: Statements, phone: str) -> bool:
    """Whether Dialpad events wait for a tenant at `phone`. Asked after the intake committed, on its
    connection (no second checkout, no SQLAlchemy execute: this used to cost a third of a lead's
    CPU). The lead is stored whatever happens here: a failure answers True, so the caller's routing
    attempt (which logs its failures) decides."""
    try:
        row = await work.fetchrow(ANY_WAITING_AT_NUMBER, {"phone": phone})
    except Exception:
        return True
    return bool(row is not None and row["waiting"])
