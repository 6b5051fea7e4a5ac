"""A person sets a lead's status (any status, unlike automatic moves), recorded in its history."""

from __future__ import annotations

from uuid import UUID

from domain.events import EventType, NewEvent
from domain.leads import LeadStatus
from domain.roles import Principal
from persistence import lead_queries
from persistence.lead_status import change_status
from persistence.rows import LeadRow
from services.deps import Deps
from services.lead_access import lead_to_work


async def update_lead_status(deps: Deps, *, actor: Principal, lead_id: UUID, status: LeadStatus) -> LeadRow:
    """Set the status; a LEAD_UPDATED event follows when it changed (setting the same status is a no-op)."""
    async with deps.unit_of_work() as tx:
        lead = await lead_to_work(tx.connection, actor=actor, lead_id=lead_id)
        change = await change_status(
            tx, lead_id=lead.id, to_status=status, at=deps.clock.now(), changed_by=actor.user_id
        )
        if change is None:
            return lead
        changes = (
            ["status", "status_changed_at"]
            + (["booked_at"] if lead.booked_at is None and status is LeadStatus.BOOKED else [])
            + (["stage"] if change.stage_changed else [])
        )
        payload = await lead_queries.lead_event_payload(tx.connection, lead.id, changes=changes)
        # from_status/from_stage tell subscribers whether the lead entered, left or stayed on the board.
        payload.update(change.event_fields())
        await tx.record(NewEvent(lead.tenant_id, EventType.LEAD_UPDATED, payload))
        updated = await lead_queries.get_lead(tx.connection, lead.id)
    assert updated is not None
    return updated
