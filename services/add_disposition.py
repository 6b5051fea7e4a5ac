"""Set a call's disposition (a person through GraphQL, or a Dialpad `dispositions` event) and book its lead."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.calls import CallDirection
from domain.dispositions import Disposition, decide_disposition
from domain.errors import BadInput, Forbidden, NotFound
from domain.leads import LeadStatus, advancing_to
from domain.roles import Principal, can_see_tenant, can_work_leads
from persistence import calls as call_store
from persistence.calls import LeadUpdate
from persistence.rows import CallRow
from persistence.snapshots import snapshot
from persistence.unit_of_work import Transaction
from services.deps import Deps

MAX_DISPOSITION_LENGTH = 200

# What a change of these call columns can change about its lead.
_LEAD_FACT_COLUMNS = ("lead_id", "direction", "started_at", "connected_at")


def lead_update(
    call: CallRow,
    *,
    before: CallRow | None,
    disposition: Disposition | None,
    at: datetime,
    changed_by: str | None,
) -> LeadUpdate | None:
    """What a call tells its lead, the rule both doors share.

    When the call's link or timing changed (`before` is the call before this change): its first
    outbound attempt and its connect, and a connect moves the lead on to CONTACTED. When
    `disposition` books: the booking at `at`, and the lead moves on to BOOKED. Automatic moves
    never go back (`domain.leads.advance_status`)."""
    if call.lead_id is None:
        return None
    timing = before is not None and any(
        getattr(before, name) != getattr(call, name) for name in _LEAD_FACT_COLUMNS
    )
    booking = disposition is not None and disposition.booked
    if not timing and not booking:
        return None
    update = LeadUpdate(lead_id=call.lead_id, changed_by=changed_by)
    if timing:
        outbound = call.direction == CallDirection.OUTBOUND.value
        update = LeadUpdate(
            lead_id=call.lead_id,
            attempt_at=call.started_at if outbound else None,
            connected_at=call.connected_at,
            contacted_from=advancing_to(LeadStatus.CONTACTED) if call.connected_at is not None else (),
            changed_by=changed_by,
        )
    if booking:
        assert disposition is not None
        update = LeadUpdate(
            lead_id=update.lead_id,
            attempt_at=update.attempt_at,
            connected_at=update.connected_at,
            contacted_from=update.contacted_from,
            booked_at=at,
            booked_from=advancing_to(LeadStatus.BOOKED),
            booked_reason=f"call disposition {disposition.value}",
            changed_by=changed_by,
        )
    return update


async def record_call_outcome(
    tx: Transaction, *, call: CallRow, kind: str | None, lead: LeadUpdate | None
) -> None:
    """Apply `lead` and record CALL_UPDATED (when `kind` is given) and LEAD_UPDATED (when the lead changed)."""
    await call_store.write_call_outcome(
        tx,
        tenant_id=call.tenant_id,
        call_payload={"call": snapshot(call), "kind": kind} if kind is not None else None,
        lead=lead,
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
        await record_call_outcome(
            tx,
            call=call,
            kind="DISPOSITION" if changed else None,
            lead=lead_update(
                call,
                before=None,
                disposition=decided,
                at=deps.clock.now(),
                changed_by=actor.user_id if actor is not None else None,
            ),
        )
    return call
