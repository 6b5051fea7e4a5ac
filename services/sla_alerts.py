"""Alert on leads whose SLA ran out with no call attempt (by the tenant's SLA clock): SLA_BREACHED once per lead."""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import EventType, NewEvent
from persistence import sla as sla_store
from persistence.business_clock import TenantClock
from services.deps import Deps


@dataclass(frozen=True)
class SweepResult:
    """`swept` is False when another process held the sweep lock (it does the work instead)."""

    swept: bool
    alerted: int


async def alert_breached_leads(deps: Deps, *, limit: int = 500) -> SweepResult:
    """Mark up to `limit` overdue unattempted leads breached and record their events, in one transaction."""
    async with deps.unit_of_work() as tx:
        if not await sla_store.try_sweep_lock(tx.connection):
            return SweepResult(swept=False, alerted=0)
        clocks = [
            (
                TenantClock(tenant.tenant_id, tenant.settings.weekly_hours(), tenant.settings.holidays),
                tenant.timezone,
            )
            for tenant in await sla_store.business_clock_tenants(tx.connection)
        ]
        breached = await sla_store.mark_breached(
            tx.connection, now=deps.clock.now(), limit=limit, business_clocks=clocks
        )
        await tx.record(
            *(
                NewEvent(
                    lead.tenant_id,
                    EventType.SLA_BREACHED,
                    {"lead": lead.lead, "contact": lead.contact, "changes": ["sla_breached_at"]},
                )
                for lead in breached
            )
        )
    return SweepResult(swept=True, alerted=len(breached))
