"""Mutations on leads: status changes and notes."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.enums import LeadStatus
from graph.ids import parse_uuid
from graph.leads.types import Lead, LeadNote
from services.add_lead_note import add_lead_note
from services.update_lead_status import update_lead_status


@strawberry.type
class LeadsMutation:
    @strawberry.mutation(
        description="Set a lead's status (admins, agents of its tenant); recorded in its timeline."
    )
    async def update_lead_status(self, info: Info, lead_id: strawberry.ID, status: LeadStatus) -> Lead:
        row = await update_lead_status(
            info.context.deps,
            actor=info.context.require_principal(),
            lead_id=parse_uuid(lead_id, field="leadId"),
            status=status,
        )
        return Lead.from_row(row)

    @strawberry.mutation(description="Add a note to a lead (admins, agents of its tenant).")
    async def add_lead_note(self, info: Info, lead_id: strawberry.ID, body: str) -> LeadNote:
        row = await add_lead_note(
            info.context.deps,
            actor=info.context.require_principal(),
            lead_id=parse_uuid(lead_id, field="leadId"),
            body=body,
        )
        return LeadNote.from_row(row)
