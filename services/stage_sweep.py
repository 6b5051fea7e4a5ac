"""Move open leads to the pipeline column of their age: LEAD_STAGE_CHANGED once per move."""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import EventType, NewEvent
from persistence import lead_stages
from services.deps import Deps


@dataclass(frozen=True)
class StageSweepResult:
    """`swept` is False when another process held the sweep lock (it does the work instead)."""

    swept: bool
    moved: int


async def restage_leads(deps: Deps, *, limit: int = 500) -> StageSweepResult:
    """Restage up to `limit` open leads whose stored column their age (or new bounds) left, with their events."""
    async with deps.unit_of_work() as tx:
        if not await lead_stages.try_sweep_lock(tx.connection):
            return StageSweepResult(swept=False, moved=0)
        moved = await lead_stages.restage(tx.connection, now=deps.clock.now(), limit=limit)
        await tx.record(
            *(
                NewEvent(
                    lead.tenant_id,
                    EventType.LEAD_STAGE_CHANGED,
                    {
                        "lead": lead.lead,
                        "contact": lead.contact,
                        "changes": ["stage"],
                        "from_stage": lead.from_stage.value if lead.from_stage else None,
                        "to_stage": lead.to_stage.value,
                    },
                )
                for lead in moved
            )
        )
    return StageSweepResult(swept=True, moved=len(moved))
