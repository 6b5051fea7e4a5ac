"""A hand-computed data set: leads and calls inserted with SQL, and the answers worked out by hand.

Tenant "acme" is in America/New_York, SLA 300 s, open Monday-Friday 09:00-17:00. The range is
Friday 2024-03-08 00:00 EST to Tuesday 2024-03-12 00:00 EDT: four tenant days, the third of
which (Sunday 10 March) has 23 hours (02:00 EST -> 03:00 EDT). The clock reads 2024-03-20 12:00Z.

Leads (local time; speed = first attempt - created; business = open seconds in between):
  L9  Fri 00:00 EST  exactly `from`: counted; never attempted (breached)
  L1  Fri 10:00 EST  attempt 10:02            speed 120     business 120
  L2  Fri 16:50 EST  attempt Mon 09:10 EDT    speed 228000  business 600 + 600 = 1200
  L3  Sat 23:59 EST  attempt Sun 10:00 EDT    speed 32460   business 0 (a Saturday 23:59 lead:
                     UTC already says Sunday, the tenant's day is Saturday)
  L4  Sun 01:30 EST  never attempted; an outbound call 30 min BEFORE it (does not count)
  L5  Sun 03:30 EDT  attempt 03:34            speed 240     business 0; answered Monday (inbound)
  L6  Mon 08:58 EDT  attempt 09:03            speed 300 (exactly the SLA: within; band 5-15)
                                              business 180
  L7  Mon 23:59 EDT  attempt Tue 09:00 EDT    speed 32460   business 0; its call is after `to`
                     (not in the call rates) but still its first attempt
  L11 Mon 12:00 EDT  derived columns stamped from a call one hour BEFORE it: ignored, unattempted
  L8  Tue 00:00 EDT  exactly `to`: out of range
  L10 Thu 23:59 EST  before `from`: out of range (its call on Friday is in range)

Calls (primary legs unless said; day = tenant day):
  C1  Fri out  connected booked (L1)     C1b a second leg of C1: not primary, must not count
  C9  Fri out  connected booked (L10)    C10 Fri out not connected, booked flag (not counted)
  C13 Sat 23:59 in  not connected        C3  Sun out connected (L3)
  C4  Sun out  not connected (before L4) C5  Sun out not connected (L5)
  C2  Mon out  not connected (L2)        C6  Mon in  connected booked (L5)
  C7  Mon out  connected (L6)            C11 Mon out connected (before L11)
  C8  Tue out  connected (L7): after `to`   C12 Thu 23:59 out: before `from`

Tenant "other" (UTC) has leads and calls at the same instants: none of them may count.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


RANGE_FROM = utc("2024-03-08T05:00")  # Fri 00:00 EST
RANGE_TO = utc("2024-03-12T04:00")  # Tue 00:00 EDT
NOW = utc("2024-03-20T12:00")

# name: (created_at, first_attempt_at, first_connected_at)
LEADS: dict[str, tuple[str, str | None, str | None]] = {
    "L9": ("2024-03-08T05:00", None, None),
    "L1": ("2024-03-08T15:00", "2024-03-08T15:02", "2024-03-08T15:02:30"),
    "L2": ("2024-03-08T21:50", "2024-03-11T13:10", None),
    "L3": ("2024-03-10T04:59", "2024-03-10T14:00", "2024-03-10T14:00:20"),
    "L4": ("2024-03-10T06:30", None, None),
    "L5": ("2024-03-10T07:30", "2024-03-10T07:34", "2024-03-11T16:00:10"),
    "L6": ("2024-03-11T12:58", "2024-03-11T13:03", "2024-03-11T13:03:15"),
    "L7": ("2024-03-12T03:59", "2024-03-12T13:00", "2024-03-12T13:00:30"),
    "L11": ("2024-03-11T16:00", "2024-03-11T15:00", "2024-03-11T15:00:20"),
    "L8": ("2024-03-12T04:00", "2024-03-12T04:01", None),
    "L10": ("2024-03-08T04:59", "2024-03-08T15:00", "2024-03-08T15:00:30"),
}

# name: (lead, direction, started_at, connected_at, booked, primary)
CALLS: dict[str, tuple[str, str, str, str | None, bool, bool]] = {
    "C1": ("L1", "outbound", "2024-03-08T15:02", "2024-03-08T15:02:30", True, True),
    "C1b": ("L1", "outbound", "2024-03-08T15:02", "2024-03-08T15:02:30", True, False),
    "C9": ("L10", "outbound", "2024-03-08T15:00", "2024-03-08T15:00:30", True, True),
    "C10": ("L1", "outbound", "2024-03-08T16:00", None, True, True),
    "C13": ("L3", "inbound", "2024-03-10T04:59", None, False, True),
    "C3": ("L3", "outbound", "2024-03-10T14:00", "2024-03-10T14:00:20", False, True),
    "C4": ("L4", "outbound", "2024-03-10T06:00", None, False, True),
    "C5": ("L5", "outbound", "2024-03-10T07:34", None, False, True),
    "C2": ("L2", "outbound", "2024-03-11T13:10", None, False, True),
    "C6": ("L5", "inbound", "2024-03-11T16:00", "2024-03-11T16:00:10", True, True),
    "C7": ("L6", "outbound", "2024-03-11T13:03", "2024-03-11T13:03:15", False, True),
    "C11": ("L11", "outbound", "2024-03-11T15:00", "2024-03-11T15:00:20", False, True),
    "C8": ("L7", "outbound", "2024-03-12T13:00", "2024-03-12T13:00:30", False, True),
    "C12": ("L10", "outbound", "2024-03-08T04:59", None, False, True),
}

# The answers, by hand (see the module docstring).
EXPECTED_SPEED = {
    "averageSeconds": 48930.0,  # (120+240+300+32460+32460+228000) / 6
    "medianSeconds": 16380.0,  # between 300 and 32460
    "p90Seconds": 130230.0,  # 32460 + 0.5 * (228000 - 32460)
    "attemptedLeads": 6,
    "unattemptedLeads": 3,
    "withinSla": 3,  # L1, L5, L6
    "breached": 6,  # L2, L3, L7 late; L4, L9, L11 never attempted
    "slaSeconds": 300,
    "bands": [
        {"label": "0-5 min", "count": 2},
        {"label": "5-15 min", "count": 1},
        {"label": "15-60 min", "count": 0},
        {"label": "over 60 min", "count": 3},
    ],
}
EXPECTED_BUSINESS = {
    "averageSeconds": 250.0,  # (0+0+0+120+180+1200) / 6
    "medianSeconds": 60.0,
    "p90Seconds": 690.0,  # 180 + 0.5 * (1200 - 180)
    "attemptedLeads": 6,
    "unattemptedLeads": 3,
    "withinSla": 5,  # all but L2
    "breached": 4,  # L2; L4, L9, L11 have been unattempted for days of open hours
    "slaSeconds": 300,
    "bands": [
        {"label": "0-5 min", "count": 5},
        {"label": "5-15 min", "count": 0},
        {"label": "15-60 min", "count": 1},
        {"label": "over 60 min", "count": 0},
    ],
}
EXPECTED_RATES = {
    "connectionRate": {"numerator": 5, "denominator": 9, "value": 5 / 9},
    "bookingRate": {"numerator": 3, "denominator": 6, "value": 0.5},
    # L1, L3, L5, L6, L7 of 9 leads.
    "leadResponseRate": {"numerator": 5, "denominator": 9, "value": 5 / 9},
}
EXPECTED_TREND = [
    {
        "day": "2024-03-08",
        "leads": 3,
        "calls": 3,
        "connected": 2,
        "booked": 2,
        "medianSpeedSeconds": 114060.0,
    },
    {"day": "2024-03-09", "leads": 1, "calls": 1, "connected": 0, "booked": 0, "medianSpeedSeconds": 32460.0},
    {"day": "2024-03-10", "leads": 2, "calls": 3, "connected": 1, "booked": 0, "medianSpeedSeconds": 240.0},
    {"day": "2024-03-11", "leads": 3, "calls": 4, "connected": 3, "booked": 1, "medianSpeedSeconds": 16380.0},
]
EXPECTED_DAYS = [date(2024, 3, 8), date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11)]


def _at(value: str | None) -> datetime | None:
    return utc(value) if value else None


async def insert_contact(connection: Any, tenant_id: UUID, phone: str) -> UUID:
    contact_id = uuid.uuid4()
    await connection.execute(
        text("INSERT INTO contacts (id, tenant_id, phone) VALUES (:id, :tenant_id, :phone)"),
        {"id": contact_id, "tenant_id": tenant_id, "phone": phone},
    )
    return contact_id


async def insert_lead(
    connection: Any,
    tenant_id: UUID,
    contact_id: UUID,
    created_at: datetime,
    *,
    first_attempt_at: datetime | None = None,
    first_connected_at: datetime | None = None,
    status: str = "new",
) -> UUID:
    lead_id = uuid.uuid4()
    await connection.execute(
        text(
            "INSERT INTO leads (id, tenant_id, contact_id, status, created_at, first_attempt_at, first_connected_at)"
            " VALUES (:id, :tenant_id, :contact_id, :status, :created_at, :first_attempt_at, :first_connected_at)"
        ),
        {
            "id": lead_id,
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "status": status,
            "created_at": created_at,
            "first_attempt_at": first_attempt_at,
            "first_connected_at": first_connected_at,
        },
    )
    return lead_id


async def insert_call(
    connection: Any,
    tenant_id: UUID,
    *,
    lead_id: UUID | None,
    contact_id: UUID | None,
    direction: str,
    started_at: datetime,
    connected_at: datetime | None,
    booked: bool,
    primary: bool = True,
) -> None:
    await connection.execute(
        text(
            "INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, started_at,"
            " connected_at, booked, disposition, is_primary_leg)"
            " VALUES (:tenant_id, :external_id, :lead_id, :contact_id, :direction, :status, :started_at,"
            " :connected_at, :booked, :disposition, :primary)"
        ),
        {
            "tenant_id": tenant_id,
            "external_id": uuid.uuid4().hex,
            "lead_id": lead_id,
            "contact_id": contact_id,
            "direction": direction,
            "status": "completed" if connected_at else "no_answer",
            "started_at": started_at,
            "connected_at": connected_at,
            "booked": booked,
            "disposition": "booked appointment" if booked else None,
            "primary": primary,
        },
    )


async def load(engine: AsyncEngine, tenant_id: UUID) -> dict[str, UUID]:
    """Insert the data set for `tenant_id`; returns lead ids by name."""
    lead_ids: dict[str, UUID] = {}
    contacts: dict[str, UUID] = {}
    async with engine.begin() as connection:
        for number, (name, (created, attempt, connected)) in enumerate(LEADS.items()):
            contacts[name] = await insert_contact(connection, tenant_id, f"+1202555{number:04d}")
            lead_ids[name] = await insert_lead(
                connection,
                tenant_id,
                contacts[name],
                utc(created),
                first_attempt_at=_at(attempt),
                first_connected_at=_at(connected),
            )
        for lead, direction, started, connected_at, booked, primary in CALLS.values():
            await insert_call(
                connection,
                tenant_id,
                lead_id=lead_ids[lead],
                contact_id=contacts[lead],
                direction=direction,
                started_at=utc(started),
                connected_at=_at(connected_at),
                booked=booked,
                primary=primary,
            )
    return lead_ids
