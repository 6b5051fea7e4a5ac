"""The SLA sweep's SQL: one sweeper at a time, and leads marked breached exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.tenants import DEFAULT_SLA_SECONDS, SlaClock, TenantSettings
from persistence.business_clock import (
    TenantClock,
    business_clock_ctes,
    clock_parameters,
    deadlines_lateral,
    sla_state,
)
from persistence.db import try_xact_lock
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql

# Any constant unique to this lock; the migration lock uses another.
SLA_SWEEP_LOCK_KEY = 7_100_912_309

# A tenant's SLA in seconds (`t` is its row); the default is the domain's.
_SLA = f"coalesce((t.settings ->> 'sla_seconds')::int, {DEFAULT_SLA_SECONDS})"

# The partial index ix_leads_sla_pending holds only leads with no attempt and no alert yet, so the
# scan is over leads younger than their SLA plus those just due. A lead's deadline is read from its
# tenant's SLA clock (persistence/business_clock.py: created + SLA, or the instant its open seconds
# reach the SLA for the tenants in :c_tenants, whose clocks run on business hours); the wall deadline
# is never later, so only leads past it are candidates. The deadline is stored (not the sweep's
# time): it is when the SLA actually ran out, whenever the sweep noticed. A lead first spoken with
# (a connected call either way) by its deadline is within the SLA and never marked. SKIP LOCKED
# leaves a lead a call event is updating right now to the next sweep, which then sees its first
# attempt. The event's snapshots are selected with the marked rows (persistence/snapshots.py).
_MARK_BREACHED = text(
    f"""
    WITH clock_tenants AS (
        SELECT c.idx, c.tenant_id, c.tz
        FROM unnest(CAST(:c_tenants AS uuid[]), CAST(:c_tzs AS text[])) WITH ORDINALITY AS c(tenant_id, tz, idx)
    ),
    candidates AS MATERIALIZED (
        SELECT l.id, l.created_at, l.first_connected_at, {_SLA} AS sla, ct.idx,
               date_part('epoch', l.created_at) AS created_epoch
        FROM leads AS l
        JOIN tenants AS t ON t.id = l.tenant_id
        LEFT JOIN clock_tenants ct ON ct.tenant_id = l.tenant_id
        WHERE l.first_attempt_at IS NULL
          AND l.sla_breached_at IS NULL
          AND l.created_at < :now
          AND l.created_at + make_interval(secs => {_SLA}) <= :now
    ),
    span AS (
        SELECT ct.idx, ct.tenant_id, ct.tz, (min(c.created_at) AT TIME ZONE ct.tz)::date - 1 AS first_day,
               (CAST(:now AS timestamptz) AT TIME ZONE ct.tz)::date + 1 AS last_day
        FROM clock_tenants ct
        JOIN candidates c ON c.idx = ct.idx
        GROUP BY ct.idx, ct.tenant_id, ct.tz
    ),
    {business_clock_ctes("span")},
    clocked AS (
        SELECT c.*, k.bounds, k.cums, width_bucket(c.created_epoch, k.bounds) AS created_bucket
        FROM candidates c
        LEFT JOIN business_clock k ON k.idx = c.idx
    ),
    deadlines AS (
        SELECT c.id, dl.sla_deadline,
               {
        sla_state(
            "c.first_connected_at IS NOT NULL",
            "date_part('epoch', c.first_connected_at)",
            "dl.sla_deadline",
            "date_part('epoch', CAST(:now AS timestamptz))",
        )
    } AS state
        FROM clocked c
        {deadlines_lateral("c", "created_epoch", "created_bucket", "c.sla", "c.idx IS NOT NULL")} AS dl
    ),
    due AS (
        SELECT l.id, to_timestamp(d.sla_deadline) AS deadline
        FROM leads AS l
        JOIN deadlines d ON d.id = l.id
        WHERE d.state = 2
        ORDER BY l.created_at
        LIMIT :limit
        FOR NO KEY UPDATE OF l SKIP LOCKED
    ),
    breached AS (
        UPDATE leads AS l
        SET sla_breached_at = due.deadline, updated_at = now()
        FROM due
        WHERE l.id = due.id AND l.sla_breached_at IS NULL AND l.first_attempt_at IS NULL
        RETURNING l.*
    )
    SELECT b.tenant_id, {lead_snapshot_sql("b")} AS lead, {contact_snapshot_sql("c")} AS contact
    FROM breached AS b JOIN contacts AS c ON c.id = b.contact_id
    ORDER BY b.created_at, b.id
    """
)

# Tenants whose SLA runs on business hours: their settings make their clocks.
_BUSINESS_CLOCK_TENANTS = text(
    "SELECT id, timezone, settings FROM tenants WHERE settings ->> 'sla_clock' = :clock"
)


@dataclass(frozen=True)
class ClockTenant:
    tenant_id: UUID
    timezone: str
    settings: TenantSettings


async def business_clock_tenants(connection: AsyncConnection) -> list[ClockTenant]:
    """The tenants whose SLA runs only while open."""
    rows = await connection.execute(_BUSINESS_CLOCK_TENANTS, {"clock": SlaClock.BUSINESS_HOURS.value})
    return [ClockTenant(row.id, row.timezone, TenantSettings.from_json(row.settings)) for row in rows]


@dataclass(frozen=True)
class BreachedLead:
    """A lead just marked breached, with the snapshots its SLA_BREACHED event carries."""

    tenant_id: UUID
    lead: dict[str, Any]
    contact: dict[str, Any]


async def try_sweep_lock(connection: AsyncConnection) -> bool:
    """Take the sweep lock for this transaction, or False when another process holds it."""
    return await try_xact_lock(connection, SLA_SWEEP_LOCK_KEY)


async def mark_breached(
    connection: AsyncConnection,
    *,
    now: datetime,
    limit: int,
    business_clocks: Sequence[tuple[TenantClock, str]] = (),
) -> list[BreachedLead]:
    """Set sla_breached_at on up to `limit` leads past their tenant's SLA with no attempt; returns
    them. `business_clocks`: (clock, timezone) of the tenants whose SLA runs on business hours."""
    params = {
        "now": now,
        "limit": limit,
        "c_tenants": [clock.tenant_id for clock, _ in business_clocks],
        "c_tzs": [zone for _, zone in business_clocks],
        **clock_parameters(clock for clock, _ in business_clocks),
    }
    rows = await connection.execute(_MARK_BREACHED, params)
    return [BreachedLead(tenant_id=row.tenant_id, lead=row.lead, contact=row.contact) for row in rows]
