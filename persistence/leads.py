"""Leads: the one-statement intake (token check, idempotency, contact merge, lead insert) and lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Text, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import LeadStatus
from persistence.contacts import (
    CONTACT_COLUMNS,
    CONTACT_PARAMS,
    MERGE_CONTACT_CTES,
    ContactFields,
    ContactRaced,
    contact_values,
    is_contact_race,
)
from persistence.tables import Lead

LEAD_COLUMNS: tuple[str, ...] = tuple(column.name for column in Lead.__table__.columns)


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
    # The new rows (every column); `lead` is None when a concurrent request with the same key won.
    lead: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None


def _select_list(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f'{alias}."{name}" AS "{alias}__{name}"' for name in columns)


# One round trip does the whole write. `hook` checks the token (so rotation and deactivation take
# effect at once) and, when the caller normalised a national number, that the tenant's region
# inputs are what it assumed. `existing` finds an earlier lead with the same key; when there is one
# nothing is written. The lead insert's ON CONFLICT covers both partial unique keys, so a racing
# duplicate inserts nothing (the caller rolls back its contact merge and reads the winner).
_INGEST = text(
    f"""
WITH hook AS (
    SELECT lw.id AS webhook_id, lw.tenant_id, lw.label
    FROM lead_webhooks AS lw JOIN tenants AS t ON t.id = lw.tenant_id
    WHERE lw.token = :token AND lw.active
      AND (NOT :check_region
           OR (t.timezone = :timezone AND coalesce(t.settings ->> 'default_region', '') = :default_region))
),
existing AS (
    SELECT found.id, found.contact_id FROM (
        SELECT l.id, l.contact_id, 1 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.idempotency_key = :idempotency_key
        UNION ALL
        SELECT l.id, l.contact_id, 2 AS rank
        FROM leads AS l JOIN hook ON l.tenant_id = hook.tenant_id
        WHERE l.external_id = :external_id
    ) AS found
    ORDER BY found.rank LIMIT 1
),
{MERGE_CONTACT_CTES.format(go="NOT EXISTS (SELECT 1 FROM existing)")},
new_lead AS (
    INSERT INTO leads AS l (tenant_id, contact_id, lead_webhook_id, source, status, notes, city, raw_data,
                           external_id, idempotency_key, created_at, updated_at)
    SELECT hook.tenant_id, contact.id, hook.webhook_id, coalesce(:source, hook.label, 'webhook'), :status,
           :notes, :city, :raw_data, :external_id, :idempotency_key, :at, :at
    FROM hook JOIN contact ON true
    ON CONFLICT DO NOTHING
    RETURNING l.*
)
SELECT hook.tenant_id AS tenant_id, existing.id AS existing_lead_id, existing.contact_id AS existing_contact_id,
       {_select_list("new_lead", LEAD_COLUMNS)},
       {_select_list("contact", CONTACT_COLUMNS)}
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
)


def _columns(mapping: Any, alias: str, columns: tuple[str, ...]) -> dict[str, Any] | None:
    values = {name: mapping[f"{alias}__{name}"] for name in columns}
    return values if values["id"] is not None else None


async def ingest(
    connection: AsyncConnection,
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
    """Write a lead arriving on webhook `token` with its contact, in one statement (see `_INGEST`).

    Raises `ContactRaced` when the rare adopted-phone race needs the caller to retry."""
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
    }
    try:
        row = (await connection.execute(_INGEST, values)).first()
    except IntegrityError as error:
        if is_contact_race(error):
            raise ContactRaced(str(error.orig)) from error
        raise
    if row is None:
        return LeadIntake(webhook_found=False)
    mapping = row._mapping
    return LeadIntake(
        webhook_found=True,
        tenant_id=row.tenant_id,
        existing_lead_id=row.existing_lead_id,
        existing_contact_id=row.existing_contact_id,
        lead=_columns(mapping, "new_lead", LEAD_COLUMNS),
        contact=_columns(mapping, "contact", CONTACT_COLUMNS),
    )


_FIND_BY_KEY = text(
    """
    SELECT id, contact_id FROM (
        SELECT id, contact_id, 1 AS rank FROM leads WHERE tenant_id = :tenant_id AND idempotency_key = :key
        UNION ALL
        SELECT id, contact_id, 2 AS rank FROM leads WHERE tenant_id = :tenant_id AND external_id = :external_id
    ) AS found
    ORDER BY rank LIMIT 1
    """
).bindparams(bindparam("key", type_=Text), bindparam("external_id", type_=Text))


async def find_by_key(
    connection: AsyncConnection, *, tenant_id: UUID, idempotency_key: str | None, external_id: str | None
) -> tuple[UUID, UUID] | None:
    """(lead id, contact id) of the tenant's lead with this idempotency key, else this source id."""
    row = (
        await connection.execute(
            _FIND_BY_KEY, {"tenant_id": tenant_id, "key": idempotency_key, "external_id": external_id}
        )
    ).first()
    return (row.id, row.contact_id) if row else None
