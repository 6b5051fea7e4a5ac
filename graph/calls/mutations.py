"""Mutations on calls: recording a disposition (the same use case Dialpad's `dispositions` events use)."""

from __future__ import annotations

import strawberry

from graph.calls.types import Call
from graph.context import Info
from graph.ids import parse_uuid
from services.add_disposition import add_disposition


@strawberry.type
class CallsMutation:
    @strawberry.mutation(
        description="Record a call's disposition (admins, agents of its tenant); a booking one books the lead."
    )
    async def add_disposition(self, info: Info, call_id: strawberry.ID, disposition: str) -> Call:
        row = await add_disposition(
            info.context.deps,
            actor=info.context.require_principal(),
            call_id=parse_uuid(call_id, field="callId"),
            disposition=disposition,
        )
        return Call.from_row(row)
