"""Set a call's disposition (a person through GraphQL, or a Dialpad `dispositions` event) and book its lead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.dispositions import is_booking, normalize_all
from domain.errors import BadInput, Forbidden, NotFound
from domain.leads import LeadStatus, StatusChange, advance_status
from domain.roles import Principal, can_see_tenant, can_work_leads
from persistence import calls as call_store
from persistence.lead_status import change_status
from persistence.rows import CallRow
from persistence.snapshots import snapshot
from persistence.unit_of_work import Transaction
from services.deps import Deps

MAX_DISPOSITION_LENGTH = 200


@dataclass(frozen=True)
class DispositionOutcome:
    call: CallRow
    call_changed: bool
    lead_changes: tuple[str, ...]
    status_change: StatusChange | None = None


async def apply_disposition(
    tx: Transaction,
    *,
    call: CallRow,
    booked_keywords: Sequence[str],
    raw: Sequence[str],
    at: datetime,
    changed_by: str | None,
) -> DispositionOutcome:
    """The disposition rule both doors share, inside the caller's transaction (the call is locked)."""
    normalized = normalize_all(raw)
    if not normalized:
        raise BadInput("the disposition is empty", fields={"disposition": "required"})
    disposition = ",".join(normalized)
    disposition_raw = "; ".join(text.strip() for text in raw)
    booked = is_booking(normalized, booked_keywords)
    call_changed = (call.disposition, call.disposition_raw, call.booked) != (
        disposition,
        disposition_raw,
        booked,
    )
    if call_changed:
        call = await call_store.set_disposition(
            tx,
            call_id=call.id,
            disposition=disposition,
            disposition_raw=disposition_raw,
            booked=booked,
        )
    lead_changes: list[str] = []
    status_change: StatusChange | None = None
    # A booking books the lead; a later non-booking disposition never moves it back.
    if booked and call.lead_id is not None:
        facts = await call_store.update_lead_facts(tx, lead_id=call.lead_id, booked_at=at)
        if facts is not None:
            lead_changes.extend(facts.changes)
            if advance_status(facts.status, LeadStatus.BOOKED) is not facts.status:
                status_change = await change_status(
                    tx,
                    lead_id=call.lead_id,
                    to_status=LeadStatus.BOOKED,
                    at=at,
                    changed_by=changed_by,
                    reason=f"call disposition {disposition}",
                )
                lead_changes.append("status")
    return DispositionOutcome(
        call=call, call_changed=call_changed, lead_changes=tuple(lead_changes), status_change=status_change
    )


async def record_call_changes(
    tx: Transaction,
    *,
    call: CallRow,
    kind: str | None,
    lead_changes: Sequence[str],
    status_change: StatusChange | None = None,
) -> None:
    """CALL_UPDATED (when `kind` is given) and LEAD_UPDATED (when the lead changed) for subscribers.

    `status_change` is the lead's status change in this transaction (first status to last stage)."""
    lead_fields: dict[str, Any] = {}
    if lead_changes:
        changes = set(lead_changes)
        if status_change is not None and status_change.stage_changed:
            changes.add("stage")
        lead_fields["changes"] = sorted(changes)
        if status_change is not None:
            lead_fields.update(status_change.event_fields())
    await call_store.record_call_events(
        tx,
        tenant_id=call.tenant_id,
        call_payload={"call": snapshot(call), "kind": kind} if kind is not None else None,
        lead_id=call.lead_id if lead_changes else None,
        lead_fields=lead_fields,
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
        outcome = await apply_disposition(
            tx,
            call=call,
            booked_keywords=settings.booked_dispositions,
            raw=[disposition],
            at=deps.clock.now(),
            changed_by=actor.user_id if actor is not None else None,
        )
        await record_call_changes(
            tx,
            call=outcome.call,
            kind="DISPOSITION" if outcome.call_changed else None,
            lead_changes=outcome.lead_changes,
            status_change=outcome.status_change,
        )
    return outcome.call
