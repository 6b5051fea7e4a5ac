"""GraphQL types for leads, contacts, notes and timelines; built from rows or event snapshots."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import strawberry

from domain.leads import speed_to_lead_seconds, stage_for
from graph.calls.types import Call
from graph.context import Info
from graph.enums import LeadStatus, PipelineStage
from graph.loaders import loaders
from persistence.rows import ContactRow, LeadRow, NoteRow, StatusChangeRow


@strawberry.type
class Contact:
    id: strawberry.ID
    tenant_id: strawberry.ID
    name: str | None
    phone: str | None = strawberry.field(description="E.164, or null when the source gave none or a bad one.")
    phone_raw: str | None = strawberry.field(description="The phone as the source sent it.")
    email: str | None
    city: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: ContactRow) -> Contact:
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=strawberry.ID(str(row.tenant_id)),
            name=row.name,
            phone=row.phone,
            phone_raw=row.phone_raw,
            email=row.email,
            city=row.city,
            created_at=row.created_at,
        )

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> Contact:
        return cls.from_row(ContactRow.from_mapping(snapshot))


@strawberry.type(description="A note a team member wrote on a lead.")
class LeadNote:
    id: strawberry.ID
    lead_id: strawberry.ID
    body: str
    author_id: str | None
    author_name: str | None
    author_email: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: NoteRow) -> LeadNote:
        return cls(
            id=strawberry.ID(str(row.id)),
            lead_id=strawberry.ID(str(row.lead_id)),
            body=row.body,
            author_id=row.author_id,
            author_name=row.author_name,
            author_email=row.author_email,
            created_at=row.created_at,
        )


@strawberry.type(description="One change of a lead's status; changedBy is null when a call moved it.")
class LeadStatusChange:
    from_status: LeadStatus | None
    to_status: LeadStatus
    changed_by: str | None
    reason: str | None
    changed_at: datetime

    @classmethod
    def from_row(cls, row: StatusChangeRow) -> LeadStatusChange:
        return cls(
            from_status=row.from_status,
            to_status=row.to_status,
            changed_by=row.changed_by,
            reason=row.reason,
            changed_at=row.changed_at,
        )


@strawberry.enum
class TimelineKind(StrEnum):
    CREATED = "created"
    CALL = "call"
    NOTE = "note"
    STATUS_CHANGE = "status_change"


@strawberry.type(description="One thing that happened to a lead; exactly the field named by `kind` is set.")
class TimelineEntry:
    at: datetime
    kind: TimelineKind
    call: Call | None = None
    note: LeadNote | None = None
    status_change: LeadStatusChange | None = None


@strawberry.type
class Lead:
    id: strawberry.ID
    tenant_id: strawberry.ID
    source: str
    status: LeadStatus
    notes: str | None = strawberry.field(
        description="Free text the lead source sent (team notes: leadNotes)."
    )
    city: str | None
    external_id: str | None
    created_at: datetime = strawberry.field(
        description="When CallTrax received the lead: speed-to-lead starts here."
    )
    updated_at: datetime
    status_changed_at: datetime | None
    first_attempt_at: datetime | None
    first_connected_at: datetime | None
    booked_at: datetime | None
    sla_breached_at: datetime | None = strawberry.field(
        description="When the SLA ran out with no attempt or conversation, by the tenant's SLA clock "
        "(wall, or business hours with holidays); set by the SLA sweep."
    )
    speed_to_lead_seconds: float | None = strawberry.field(
        description="Seconds from createdAt to the first outbound call; null while unattempted."
    )
    tenant_uuid: strawberry.Private[UUID]
    contact_uuid: strawberry.Private[UUID]
    # Set when built from an event payload, which carries the contact: no query needed.
    known_contact: strawberry.Private[ContactRow | None]

    @classmethod
    def from_row(cls, row: LeadRow, *, contact: ContactRow | None = None) -> Lead:
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=strawberry.ID(str(row.tenant_id)),
            source=row.source,
            status=row.status,
            notes=row.notes,
            city=row.city,
            external_id=row.external_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            status_changed_at=row.status_changed_at,
            first_attempt_at=row.first_attempt_at,
            first_connected_at=row.first_connected_at,
            booked_at=row.booked_at,
            sla_breached_at=row.sla_breached_at,
            speed_to_lead_seconds=speed_to_lead_seconds(row),
            tenant_uuid=row.tenant_id,
            contact_uuid=row.contact_id,
            known_contact=contact,
        )

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], contact: dict[str, Any] | None = None) -> Lead:
        """From the `lead` (and `contact`) snapshots of a LEAD_* payload (domain/events.py conventions)."""
        return cls.from_row(
            LeadRow.from_mapping(snapshot), contact=ContactRow.from_mapping(contact) if contact else None
        )

    @strawberry.field
    async def contact(self, info: Info) -> Contact:
        row = self.known_contact or await loaders(info).contact.load(self.contact_uuid)
        # contacts are never deleted and leads.contact_id is NOT NULL, so a miss is a broken invariant.
        assert row is not None, f"lead {self.id} lost its contact"
        return Contact.from_row(row)

    @strawberry.field(description="The pipeline column (tenant's stage bounds); null once booked or closed.")
    async def stage(self, info: Info) -> PipelineStage | None:
        tenant = await loaders(info).tenant.load(self.tenant_uuid)
        assert tenant is not None
        return stage_for(
            self.status, self.created_at, info.context.deps.clock.now(), tenant.settings.stage_bounds
        )

    @strawberry.field(description="The lead's calls, oldest first.")
    async def calls(self, info: Info) -> list[Call]:
        rows = await loaders(info).calls_by_lead.load(UUID(self.id))
        return [Call.from_row(row) for row in rows]

    @strawberry.field(description="Notes the team wrote on the lead, oldest first.")
    async def lead_notes(self, info: Info) -> list[LeadNote]:
        rows = await loaders(info).notes_by_lead.load(UUID(self.id))
        return [LeadNote.from_row(row) for row in rows]

    @strawberry.field(description="Status changes, oldest first.")
    async def status_changes(self, info: Info) -> list[LeadStatusChange]:
        rows = await loaders(info).status_changes_by_lead.load(UUID(self.id))
        return [LeadStatusChange.from_row(row) for row in rows]

    @strawberry.field(description="Arrival, calls, notes and status changes in time order.")
    async def timeline(self, info: Info) -> list[TimelineEntry]:
        data = loaders(info)
        lead_id = UUID(self.id)
        # The entries and their order come from SQL (persistence/lead_queries.py TIMELINE, the one home
        # of that rule, which the compiled reads nest too); the rows from the loaders the lead's other
        # fields use. Gathered, so the four loads go out in the same batch round.
        items, calls, notes, changes = await asyncio.gather(
            data.timeline_by_lead.load(lead_id),
            data.calls_by_lead.load(lead_id),
            data.notes_by_lead.load(lead_id),
            data.status_changes_by_lead.load(lead_id),
        )
        by_call = {row.id: row for row in calls}
        by_note = {row.id: row for row in notes}
        by_change = {row.id: row for row in changes}
        entries: list[TimelineEntry] = []
        for item in items:
            kind = TimelineKind(item.kind)
            call = by_call.get(item.call_id) if item.call_id is not None else None
            note = by_note.get(item.note_id) if item.note_id is not None else None
            change = by_change.get(item.change_id) if item.change_id is not None else None
            if (
                (item.call_id is not None and call is None)
                or (item.note_id is not None and note is None)
                or (item.change_id is not None and change is None)
            ):
                # Written between the two reads (autocommit: each statement its own snapshot): the
                # entry is left out, as it would be had the timeline been read a moment earlier.
                continue
            entries.append(
                TimelineEntry(
                    at=item.at,
                    kind=kind,
                    call=Call.from_row(call) if call is not None else None,
                    note=LeadNote.from_row(note) if note is not None else None,
                    status_change=LeadStatusChange.from_row(change) if change is not None else None,
                )
            )
        return entries
