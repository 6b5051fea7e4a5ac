"""Rows issues 3 and 4 write in production (contacts, leads, calls), inserted here with plain SQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

BASE_TIME = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)


async def insert_contact(engine: AsyncEngine, tenant_id: UUID, **values: Any) -> UUID:
    number = next(_numbers)
    row = {
        "tenant_id": tenant_id,
        "phone": f"+1555{number:07d}",
        "email": f"person{number}@example.com",
        "name": f"Person {number}",
        "city": None,
    } | values
    async with engine.begin() as connection:
        contact_id: UUID = (
            await connection.execute(
                text(
                    "INSERT INTO contacts (tenant_id, phone, email, name, city) "
                    "VALUES (:tenant_id, :phone, :email, :name, :city) RETURNING id"
                ),
                row,
            )
        ).scalar_one()
    return contact_id


async def insert_lead(
    engine: AsyncEngine, tenant_id: UUID, *, contact_id: UUID | None = None, **values: Any
) -> UUID:
    if contact_id is None:
        contact_id = await insert_contact(engine, tenant_id)
    row = {
        "tenant_id": tenant_id,
        "contact_id": contact_id,
        "source": "webhook",
        "status": "new",
        "notes": None,
        "created_at": BASE_TIME,
        "first_attempt_at": None,
        "first_connected_at": None,
    } | values
    async with engine.begin() as connection:
        lead_id: UUID = (
            await connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, source, status, notes, created_at, "
                    "first_attempt_at, first_connected_at) VALUES (:tenant_id, :contact_id, :source, :status, "
                    ":notes, :created_at, :first_attempt_at, :first_connected_at) RETURNING id"
                ),
                row,
            )
        ).scalar_one()
    return lead_id


async def insert_call(
    engine: AsyncEngine,
    tenant_id: UUID,
    *,
    lead_id: UUID | None,
    contact_id: UUID | None = None,
    **values: Any,
) -> UUID:
    number = next(_numbers)
    row = {
        "tenant_id": tenant_id,
        "external_id": f"dp-{number}",
        "lead_id": lead_id,
        "contact_id": contact_id,
        "direction": "outbound",
        "status": "completed",
        "disposition": None,
        "started_at": BASE_TIME + timedelta(minutes=1),
        "connected_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "agent_name": None,
    } | values
    async with engine.begin() as connection:
        call_id: UUID = (
            await connection.execute(
                text(
                    "INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, "
                    "disposition, started_at, connected_at, ended_at, duration_seconds, agent_name) VALUES "
                    "(:tenant_id, :external_id, :lead_id, :contact_id, :direction, :status, :disposition, "
                    ":started_at, :connected_at, :ended_at, :duration_seconds, :agent_name) RETURNING id"
                ),
                row,
            )
        ).scalar_one()
    return call_id


async def seed_leads(
    engine: AsyncEngine, tenant_id: Any, leads: int, calls_per_lead: int = 2, *, base: datetime = BASE_TIME
) -> None:
    """`leads` leads a minute apart from `base`, each with its contact and `calls_per_lead` outbound calls,
    in one statement (the large tenants of the query-count and read-isolation tests)."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                """
                WITH c AS (
                    INSERT INTO contacts (tenant_id, phone, name)
                    SELECT :t, '+1555' || lpad(i::text, 7, '0'), 'Person ' || i FROM generate_series(1, :n) i
                    RETURNING id, phone
                ), l AS (
                    INSERT INTO leads (tenant_id, contact_id, created_at)
                    SELECT :t, c.id, CAST(:base AS timestamptz) + (substr(c.phone, 5)::int * interval '1 minute') FROM c
                    RETURNING id, contact_id, created_at
                )
                INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, started_at)
                SELECT :t, l.id::text || '-' || k, l.id, l.contact_id, 'outbound', 'completed', l.created_at + k * interval '1 second'
                FROM l, generate_series(1, :k) k
                """
            ),
            {"t": tenant_id, "n": leads, "k": calls_per_lead, "base": base},
        )
