"""SQL for the company-wide Dialpad endpoint: its settings row, routing an event to a tenant, the inbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Text, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.dialpad_routing import RouteReason
from domain.errors import Unavailable
from persistence.db import DriverStatement, json_value
from persistence.lead_stages import OPEN_STATUSES_SQL
from persistence.tables import Tenant
from persistence.tenants import TenantRow, _tenant
from persistence.unit_of_work import read_only


@dataclass(frozen=True)
class CompanyRow:
    """The company webhook and subscription as CallTrax last stored them."""

    secret: str
    hook_url: str | None
    webhook_id: str | None
    subscription_id: str | None
    updated_at: datetime


_COMPANY_COLUMNS = "secret, hook_url, webhook_id, subscription_id, updated_at"


def _company(row: Any) -> CompanyRow:
    return CompanyRow(
        secret=row.secret,
        hook_url=row.hook_url,
        webhook_id=row.webhook_id,
        subscription_id=row.subscription_id,
        updated_at=row.updated_at,
    )


async def get_company(connection: AsyncConnection) -> CompanyRow | None:
    row = (await connection.execute(text(f"SELECT {_COMPANY_COLUMNS} FROM dialpad_company"))).first()
    return _company(row) if row else None


async def ensure_company(connection: AsyncConnection, *, secret: str) -> CompanyRow:
    """The company row, created with `secret` if there is none yet (a concurrent creator's wins)."""
    await connection.execute(
        text("INSERT INTO dialpad_company (id, secret) VALUES (1, :secret) ON CONFLICT (id) DO NOTHING"),
        {"secret": secret},
    )
    company = await get_company(connection)
    assert company is not None
    return company


async def update_company(connection: AsyncConnection, **values: str | None) -> CompanyRow:
    """Set columns of the company row (which exists); the new row."""
    allowed = {"hook_url", "webhook_id", "subscription_id"}
    assert set(values) <= allowed, values
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    row = (
        await connection.execute(
            text(
                f"UPDATE dialpad_company SET {assignments}, updated_at = now() RETURNING {_COMPANY_COLUMNS}"
            ),
            values,
        )
    ).first()
    assert row is not None
    return _company(row)


# A session-level advisory lock, so two provisionings (or a provisioning and `dialpad setup`) never
# both create the company webhook. Waiters hold no connection: they try again after a pause, since
# the holder needs pooled connections of its own to store what it made.
_COMPANY_LOCK = "hashtextextended('calltrax.dialpad_company', 0)"
_LOCK_PAUSE_SECONDS = 0.05


@asynccontextmanager
async def company_lock(engine: AsyncEngine, *, wait_seconds: float = 60.0) -> AsyncIterator[None]:
    """Hold the company setup lock for the block, on a connection of its own (no open transaction)."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        async with read_only(engine) as connection:
            acquired = bool(
                (await connection.execute(text(f"SELECT pg_try_advisory_lock({_COMPANY_LOCK})"))).scalar()
            )
            await connection.commit()
            if acquired:
                try:
                    yield
                finally:
                    try:
                        await connection.execute(text(f"SELECT pg_advisory_unlock({_COMPANY_LOCK})"))
                        await connection.commit()
                    except Exception:
                        # A pooled connection must never keep the lock: drop it instead.
                        await connection.invalidate()
                        raise
                return
        if asyncio.get_running_loop().time() > deadline:
            raise Unavailable("the company Dialpad setup is busy; retry shortly")
        await asyncio.sleep(_LOCK_PAUSE_SECONDS)


@dataclass(frozen=True)
class Route:
    """The tenant an event goes to and why."""

    tenant_id: UUID
    slug: str
    reason: RouteReason
    # Events of these legs, or at this number, wait in the inbox (they came first, with nothing to
    # route them by).
    legs_waiting: bool = False


# The leads of every tenant's contacts with the phone (`l`, with their tenant `t`), found from the
# phone: contacts by phone, then each one's leads by contact. The OFFSET 0 fences keep that order; on a
# database without fresh statistics the planner otherwise read every open lead of the tenant and
# looked up each one's contact (about 2 ms per routed event in bench/call_events.py --company).
_LEADS_AT_PHONE = """(SELECT id FROM contacts WHERE phone = CAST(:phone AS text) OFFSET 0) AS ct
            CROSS JOIN LATERAL (
                SELECT leads.tenant_id, leads.status, leads.created_at, leads.id FROM leads
                WHERE leads.contact_id = ct.id OFFSET 0
            ) AS l
            JOIN tenants AS t ON t.id = l.tenant_id"""

# An inbox event still waiting for a tenant (kept for want of one, not yet routed).
WAITING_SQL = "routed_at IS NULL AND reason = 'NO_TENANT'"

# Whether any event waits at this external number: a lead with the number has just been stored
# (persistence.leads.ingest runs it on the intake's connection, after its commit).
ANY_WAITING_AT_NUMBER = DriverStatement(
    text(
        f"SELECT EXISTS (SELECT 1 FROM dialpad_inbox WHERE external_number = :phone AND {WAITING_SQL})"
        " AS waiting"
    ).bindparams(bindparam("phone", type_=Text))
)


# The rules of domain.dialpad_routing, in its order: each branch finds at most one tenant, the lowest
# rank wins. One round trip per event; each branch is an index lookup, as is the look for events that
# came earlier and wait in the inbox: of the same legs, or at the same number (a leg that names this
# one, e.g. an agent's leg whose entry_point_call_id is this call-center leg, when this leg's events
# do not name it back: once this leg is routed, that one routes as a linked leg).
_ROUTE = DriverStatement(
    text(
        f"""
    SELECT rank, id, slug, (EXISTS (
        SELECT 1 FROM dialpad_inbox WHERE call_external_id = ANY(CAST(:legs AS text[]))
            AND {WAITING_SQL}
    ) OR EXISTS (
        SELECT 1 FROM dialpad_inbox WHERE external_number = CAST(:phone AS text) AND {WAITING_SQL}
    )) AS legs_waiting FROM (
        (SELECT 1 AS rank, t.id, t.slug FROM tenants AS t
            WHERE t.dialpad_call_center_id = ANY(CAST(:centers AS text[]))
            ORDER BY array_position(CAST(:centers AS text[]), t.dialpad_call_center_id) LIMIT 1)
        UNION ALL
        (SELECT 2, t.id, t.slug FROM calls AS c JOIN tenants AS t ON t.id = c.tenant_id
            WHERE c.external_id = ANY(CAST(:legs AS text[]))
            ORDER BY array_position(CAST(:legs AS text[]), c.external_id), c.created_at LIMIT 1)
        UNION ALL
        (SELECT 3, t.id, t.slug FROM {_LEADS_AT_PHONE}
            WHERE l.status IN {OPEN_STATUSES_SQL} AND t.status = 'active'
            ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
        UNION ALL
        (SELECT 4, t.id, t.slug FROM {_LEADS_AT_PHONE}
            WHERE t.status = 'active'
            ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
    ) AS found
    ORDER BY rank LIMIT 1
    """
    )
)
_REASONS = {
    1: RouteReason.CALL_CENTER,
    2: RouteReason.LINKED_CALL,
    3: RouteReason.LEAD_NUMBER,
    4: RouteReason.CLOSED_LEAD_NUMBER,
}


async def route_event(
    connection: AsyncConnection, *, centers: list[str], legs: list[str], phone: str | None
) -> Route | None:
    """The tenant an event belongs to by the routing rules, or None (it waits in the inbox)."""
    row = await _ROUTE.fetchrow(connection, {"centers": centers, "legs": legs, "phone": phone})
    if row is None:
        return None
    return Route(
        tenant_id=row["id"], slug=row["slug"], reason=_REASONS[row["rank"]], legs_waiting=row["legs_waiting"]
    )


_STORE_INBOX = DriverStatement(
    text(
        """
    INSERT INTO dialpad_inbox (call_external_id, state, event_timestamp_ms, external_number, reason, raw)
    VALUES (:call_id, :state, :event_ms, :phone, :reason, :raw)
    ON CONFLICT (call_external_id, state, event_timestamp_ms) DO NOTHING
    RETURNING id
    """
    ).bindparams(bindparam("raw", type_=JSONB))
)


async def store_in_inbox(
    connection: AsyncConnection,
    *,
    call_id: str,
    state: str,
    event_ms: int,
    phone: str | None,
    reason: RouteReason,
    raw: dict[str, Any],
) -> bool:
    """Keep an unrouted event once; False when it was a redelivery."""
    row = await _STORE_INBOX.fetchrow(
        connection,
        {
            "call_id": call_id,
            "state": state,
            "event_ms": event_ms,
            "phone": phone,
            "reason": reason.value,
            "raw": raw,
        },
    )
    return row is not None


@dataclass(frozen=True)
class InboxRow:
    """One event the company endpoint kept."""

    id: int
    call_external_id: str
    state: str
    event_timestamp_ms: int
    external_number: str | None
    reason: str
    raw: dict[str, Any]
    received_at: datetime
    routed_tenant_id: UUID | None
    routed_at: datetime | None


def _inbox(row: Any) -> InboxRow:
    return InboxRow(
        id=row.id,
        call_external_id=row.call_external_id,
        state=row.state,
        event_timestamp_ms=row.event_timestamp_ms,
        external_number=row.external_number,
        reason=row.reason,
        raw=json_value(row.raw),
        received_at=row.received_at,
        routed_tenant_id=row.routed_tenant_id,
        routed_at=row.routed_at,
    )


_INBOX_COLUMNS = (
    "id, call_external_id, state, event_timestamp_ms, external_number, reason, raw, received_at, "
    "routed_tenant_id, routed_at"
)


async def waiting_for(
    connection: AsyncConnection, *, phone: str | None, call_ids: list[str]
) -> list[InboxRow]:
    """The events waiting for a tenant at this external number or of these legs, oldest first.
    Two index lookups (the partial index by number, the unique key by call id), not an OR: the
    inbox keeps every internal call, and a lead's intake must not scan it."""
    rows = await connection.execute(
        text(
            f"SELECT {_INBOX_COLUMNS} FROM dialpad_inbox WHERE id IN ("
            f" SELECT id FROM dialpad_inbox WHERE external_number = :phone AND {WAITING_SQL}"
            " UNION ALL SELECT id FROM dialpad_inbox WHERE call_external_id = ANY(CAST(:legs AS text[]))"
            f"  AND {WAITING_SQL}"
            ") ORDER BY event_timestamp_ms, id"
        ),
        {"phone": phone, "legs": call_ids},
    )
    return [_inbox(row) for row in rows]


async def mark_routed(connection: AsyncConnection, *, inbox_id: int, tenant_id: UUID) -> None:
    await connection.execute(
        text(
            "UPDATE dialpad_inbox SET routed_tenant_id = :tenant_id, routed_at = now()"
            " WHERE id = :id AND routed_at IS NULL"
        ),
        {"id": inbox_id, "tenant_id": tenant_id},
    )


async def list_inbox(connection: AsyncConnection, *, waiting_only: bool, limit: int) -> list[InboxRow]:
    """The inbox newest first; only the events still waiting for a tenant when `waiting_only`."""
    where = "WHERE routed_at IS NULL" if waiting_only else ""
    rows = await connection.execute(
        text(
            f"SELECT {_INBOX_COLUMNS} FROM dialpad_inbox {where} ORDER BY received_at DESC, id DESC LIMIT :n"
        ),
        {"n": limit},
    )
    return [_inbox(row) for row in rows]


async def tenants_with_own_subscription(connection: AsyncConnection) -> list[TenantRow]:
    """Tenants provisioned before the company subscription: they still hold a webhook or subscription."""
    rows = await connection.execute(
        select(Tenant)
        .where(or_(Tenant.dialpad_subscription_id.is_not(None), Tenant.dialpad_webhook_id.is_not(None)))
        .order_by(Tenant.created_at, Tenant.id)
    )
    return [_tenant(row) for row in rows]
