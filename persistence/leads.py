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
    ContactFields,
    ContactRaced,
    contact_gains_sql,
    contact_values,
    is_contact_race,
)
from persistence.db import DriverStatement
from persistence.dialpad_company import ANY_WAITING_AT_NUMBER
from persistence.errors import LOST_RACE, is_lost_race, is_outage
from persistence.lead_stages import stage_sql
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql
from persistence.sql_files import load_sql
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


# The statement and what each of its CTEs does: persistence/sql/lead_ingest.sql.
_INGEST = text(
    load_sql(
        "lead_ingest",
        gains_by_phone=contact_gains_sql(also_gained="(c.email IS NULL AND EXCLUDED.email IS NOT NULL)"),
        gains_by_email=contact_gains_sql(
            also_gained="(c.phone_raw IS NULL AND EXCLUDED.phone_raw IS NOT NULL)"
        ),
        new_lead_stage=stage_sql(
            created_at="CAST(:at AS timestamptz)", settings="hook.settings", now="CAST(:at AS timestamptz)"
        ),
        lead_snapshot=lead_snapshot_sql("new_lead"),
        contact_snapshot=contact_snapshot_sql("contact"),
        lost_race=LOST_RACE,
    )
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

    One statement on `work`'s autocommit connection (persistence/sql/lead_ingest.sql), so no
    BEGIN/COMMIT round trips. The written lead's event row is marked on `work` (published as it ends).
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
