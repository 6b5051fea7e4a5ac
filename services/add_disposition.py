"""Set a call's disposition (a person through GraphQL, or a Dialpad `dispositions` event) and book its lead."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.dispositions import Disposition, decide_disposition
from domain.errors import BadInput, Forbidden, NotFound
from domain.leads import LeadStatus, advancing_to
from domain.roles import Principal, can_see_tenant, can_work_leads
from persistence import calls as call_store
from persistence.calls import Booking
from persistence.rows import CallRow
from persistence.snapshots import call_snapshot
from services.deps import Deps

MAX_DISPOSITION_LENGTH = 200


def booking_for(disposition: Disposition | None, *, at: datetime, changed_by: str | None) -> Booking | None:
    """The booking rule both doors share: a booking disposition books the call's lead at `at` and
    moves it on to BOOKED (never back: `domain.leads.advance_status`)."""
    if disposition is None or not disposition.booked:
        return None
    return Booking(
        at=at,
        reason=f"call disposition {disposition.value}",
        from_statuses=advancing_to(LeadStatus.BOOKED),
        changed_by=changed_by,
    )


async def add_disposition(deps: Deps, *, actor: Principal | None, call_id: UUID, disposition: str) -> CallRow:
    """Set a call's disposition and, when it is a booking, book the call's lead; actor None = Dialpad."""
    if not disposition.strip():
        raise BadInput("disposition must not be empty", fields={"disposition": "empty"})
    if len(disposition) > MAX_DISPOSITION_LENGTH:
        raise BadInput(
            f"disposition is longer than {MAX_DISPOSITION_LENGTH} characters",
            fields={"disposition": f"longer than {MAX_DISPOSITION_LENGTH} characters"},
        )
    async with deps.unit_of_work() as tx:
        found = await call_store.get_call_for_update(tx, call_id)
        if found is None or (actor is not None and not can_see_tenant(actor, found[0].tenant_id)):
            raise NotFound("no such call", fields={"callId": "unknown"})
        call, settings = found
        if actor is not None and not can_work_leads(actor, call.tenant_id):
            raise Forbidden("only admins and the tenant's agents set dispositions")
        decided = decide_disposition([disposition], settings.booked_dispositions)
        changed = call_store.disposition_differs(call, decided)
        if changed:
            call = await call_store.set_disposition(tx, call_id=call.id, disposition=decided)
        await call_store.write_call_outcome(
            tx,
            tenant_id=call.tenant_id,
            call_payload={"call": await call_snapshot(tx, call.id), "kind": "DISPOSITION"}
            if changed
            else None,
            lead_id=call.lead_id,
            booking=booking_for(decided, at=deps.clock.now(), changed_by=actor.user_id if actor else None),
        )
    return call
