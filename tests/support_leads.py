"""Writing leads and their events the way the real write path does (one transaction, relay numbers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import EventType, NewEvent
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql
from persistence.unit_of_work import transaction


class MovableClock:
    """The real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def insert_lead(
    engine: AsyncEngine,
    tenant_id: UUID,
    *,
    created_at: datetime | None = None,
    first_attempt_at: datetime | None = None,
    name: str = "Ada Lovelace",
    phone: str | None = None,
    email: str | None = None,
    record_created: bool = False,
) -> dict[str, Any]:
    """A contact and a lead (with its LEAD_CREATED event when asked); returns the lead snapshot."""
    # Phoneless contacts are unique by email per tenant: make one up unless the test cares.
    email = email or f"{uuid4().hex[:12]}@example.com"
    async with transaction(engine) as tx:
        contact = (
            await tx.connection.execute(
                text(
                    "INSERT INTO contacts (tenant_id, phone, email, name) VALUES (:t, :phone, :email, :name) "
                    f"RETURNING id, {contact_snapshot_sql('contacts')} AS snapshot"
                ),
                {"t": tenant_id, "phone": phone, "email": email, "name": name},
            )
        ).one()
        lead = (
            await tx.connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, source, created_at, first_attempt_at) "
                    "VALUES (:t, :c, 'test', coalesce(:created_at, now()), :first_attempt_at) "
                    f"RETURNING {lead_snapshot_sql('leads')} AS snapshot"
                ),
                {
                    "t": tenant_id,
                    "c": contact.id,
                    "created_at": created_at,
                    "first_attempt_at": first_attempt_at,
                },
            )
        ).one()
        lead_snapshot: dict[str, Any] = lead.snapshot
        if record_created:
            await tx.record(
                NewEvent(
                    tenant_id, EventType.LEAD_CREATED, {"lead": lead_snapshot, "contact": contact.snapshot}
                )
            )
    return lead_snapshot


async def record_event(
    engine: AsyncEngine, tenant_id: UUID, event_type: EventType, payload: dict[str, Any]
) -> None:
    async with transaction(engine) as tx:
        await tx.record(NewEvent(tenant_id, event_type, payload))


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + within
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last: {value!r})")


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()
