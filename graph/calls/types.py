"""GraphQL types for calls; built from a calls row or an event snapshot of one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

from domain.calls import has_agent
from graph.context import Info
from graph.enums import CallDirection, CallStatus
from graph.loaders import loaders
from persistence.rows import CallRow

if TYPE_CHECKING:
    from graph.leads.types import Contact, Lead

# graph.leads.types imports this module (a lead lists its calls); this one reaches back lazily, so
# neither imports the other at load time.
_LEADS = "graph.leads.types"
_LEAD: strawberry.LazyType[Any, Any] = strawberry.LazyType("Lead", _LEADS)
_CONTACT: strawberry.LazyType[Any, Any] = strawberry.LazyType("Contact", _LEADS)


@strawberry.type(description="The Dialpad user who handled a call.")
class CallAgent:
    id: str | None
    name: str | None
    email: str | None


@strawberry.type
class Call:
    id: strawberry.ID
    tenant_id: strawberry.ID
    external_id: str = strawberry.field(description="Dialpad's call id.")
    direction: CallDirection
    status: CallStatus
    disposition: str | None = strawberry.field(description="Normalised disposition (lower case, trimmed).")
    disposition_raw: str | None
    booked: bool
    from_number: str | None
    to_number: str | None
    external_number: str | None = strawberry.field(description="The customer's number, E.164.")
    internal_number: str | None
    agent: CallAgent | None
    started_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    recording_url: str | None
    voicemail_url: str | None
    voicemail: bool
    is_primary_leg: bool = strawberry.field(
        description=(
            "True for a customer call: its primary leg's row, which holds the whole customer call "
            "(every leg linked by master, entry point or operator call ids) and is what metrics count."
        )
    )
    created_at: datetime
    updated_at: datetime
    lead_uuid: strawberry.Private[UUID | None]
    contact_uuid: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: CallRow) -> Call:
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=strawberry.ID(str(row.tenant_id)),
            external_id=row.external_id,
            direction=row.direction,
            status=row.status,
            disposition=row.disposition,
            disposition_raw=row.disposition_raw,
            booked=row.booked,
            from_number=row.from_number,
            to_number=row.to_number,
            external_number=row.external_number,
            internal_number=row.internal_number,
            agent=CallAgent(id=row.agent_id, name=row.agent_name, email=row.agent_email)
            if has_agent(row)
            else None,
            started_at=row.started_at,
            connected_at=row.connected_at,
            ended_at=row.ended_at,
            duration_seconds=float(row.duration_seconds) if row.duration_seconds is not None else None,
            recording_url=row.recording_url,
            voicemail_url=row.voicemail_url,
            voicemail=row.voicemail,
            is_primary_leg=row.is_primary_leg,
            created_at=row.created_at,
            updated_at=row.updated_at,
            lead_uuid=row.lead_id,
            contact_uuid=row.contact_id,
        )

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> Call:
        """From the `call` snapshot of a CALL_UPDATED payload (domain/events.py conventions)."""
        return cls.from_row(CallRow.from_mapping(snapshot))

    @strawberry.field(
        description=(
            "The legs of this call's customer call that have events, lowest Dialpad id first; the "
            "primary leg's entry is the customer call itself."
        )
    )
    async def legs(self, info: Info) -> list[Call]:
        return [Call.from_row(row) for row in await loaders(info).legs_by_call.load(UUID(str(self.id)))]

    @strawberry.field
    async def lead(self, info: Info) -> Annotated[Lead, strawberry.lazy(_LEADS)] | None:
        if self.lead_uuid is None:
            return None
        row = await loaders(info).lead.load(self.lead_uuid)
        return _LEAD.resolve_type().from_row(row) if row else None  # type: ignore[no-any-return]

    @strawberry.field
    async def contact(self, info: Info) -> Annotated[Contact, strawberry.lazy(_LEADS)] | None:
        if self.contact_uuid is None:
            return None
        row = await loaders(info).contact.load(self.contact_uuid)
        return _CONTACT.resolve_type().from_row(row) if row else None  # type: ignore[no-any-return]
