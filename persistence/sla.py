"""The SLA sweep's SQL: one sweeper at a time, and leads marked breached exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.tenants import DEFAULT_SLA_SECONDS
from persistence.contacts import contacts_by_id
from persistence.db import try_xact_lock
from persistence.snapshots import snapshot

# Any constant unique to this lock; the migration lock uses another.
SLA_SWEEP_LOCK_KEY = 7_100_912_309

# The partial index ix_leads_sla_pending holds only leads with no attempt and no alert yet, so the
# scan is over leads younger than their SLA plus those just due. The deadline is stored (not the
# sweep's time): it is when the SLA actually ran out, whenever the sweep noticed. A lead first
# spoken with (a connected call either way) by its deadline is within the SLA and never marked. SKIP LOCKED leaves a
# lead a call event is updating right now to the next sweep, which then sees its first attempt.
# A tenant's SLA as an interval (`t` is its row); the default is the domain's.
_SLA = f"make_interval(secs => coalesce((t.settings ->> 'sla_seconds')::int, {DEFAULT_SLA_SECONDS}))"
_MARK_BREACHED = text(
    f"""
    WITH due AS (
        SELECT l.id, l.created_at
            + {_SLA} AS deadline
        FROM leads AS l
        JOIN tenants AS t ON t.id = l.tenant_id
        WHERE l.first_attempt_at IS NULL
          AND l.sla_breached_at IS NULL
          AND l.created_at < :now
          AND l.created_at + {_SLA} <= :now
          -- Spoken with within the SLA (the lead phoned in and was answered): within, never breached.
          AND NOT coalesce(l.first_connected_at
              <= l.created_at + {_SLA}, false)
        ORDER BY l.created_at
        LIMIT :limit
        FOR NO KEY UPDATE OF l SKIP LOCKED
    )
    UPDATE leads AS l
    SET sla_breached_at = due.deadline, updated_at = now()
    FROM due
    WHERE l.id = due.id AND l.sla_breached_at IS NULL AND l.first_attempt_at IS NULL
    RETURNING l.*
    """
)


@dataclass(frozen=True)
class BreachedLead:
    """A lead just marked breached, with the snapshots its SLA_BREACHED event carries."""

    tenant_id: UUID
    lead: dict[str, Any]
    contact: dict[str, Any]


async def try_sweep_lock(connection: AsyncConnection) -> bool:
    """Take the sweep lock for this transaction, or False when another process holds it."""
    return await try_xact_lock(connection, SLA_SWEEP_LOCK_KEY)


async def mark_breached(connection: AsyncConnection, *, now: datetime, limit: int) -> list[BreachedLead]:
    """Set sla_breached_at on up to `limit` leads past their tenant's SLA with no attempt; returns them."""
    leads = (await connection.execute(_MARK_BREACHED, {"now": now, "limit": limit})).all()
    if not leads:
        return []
    contacts = await contacts_by_id(connection, {lead.contact_id for lead in leads})
    return [
        BreachedLead(
            tenant_id=lead.tenant_id,
            lead=snapshot(lead, exclude=("raw_data",)),
            contact=snapshot(contacts[lead.contact_id]),
        )
        for lead in sorted(leads, key=lambda lead: (lead.created_at, lead.id))
    ]
