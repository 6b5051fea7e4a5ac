"""A team member adds a note to a lead."""

from __future__ import annotations

from uuid import UUID

from domain.errors import BadInput
from domain.events import EventType, NewEvent
from domain.roles import Principal
from persistence import lead_queries, notes
from persistence.rows import NoteRow
from persistence.snapshots import snapshot
from services.deps import Deps
from services.lead_access import lead_to_work

MAX_NOTE = 10_000


async def add_lead_note(deps: Deps, *, actor: Principal, lead_id: UUID, body: str) -> NoteRow:
    """Store the note and emit LEAD_UPDATED (changes ["lead_notes"], the note under "note")."""
    text = body.strip()
    if not text:
        raise BadInput("a note needs text", fields={"body": "empty"})
    if len(text) > MAX_NOTE:
        raise BadInput("note too long", fields={"body": f"at most {MAX_NOTE} characters"})
    async with deps.unit_of_work() as tx:
        lead = await lead_to_work(tx.connection, actor=actor, lead_id=lead_id)
        note = await notes.insert_note(
            tx.connection,
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            author_id=actor.user_id,
            body=text,
            created_at=deps.clock.now(),
        )
        payload = await lead_queries.lead_event_payload(tx.connection, lead.id, changes=["lead_notes"])
        payload["note"] = snapshot(note)
        await tx.record(NewEvent(lead.tenant_id, EventType.LEAD_UPDATED, payload))
    return note
