"""Verify one Dialpad webhook body, store its event once, and re-project the call, its contact and lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from domain.call_projection import CallProjection, project_call
from domain.calls import CallDirection, CallStatus
from domain.dialpad_events import DISPOSITION_STATE, CallEventFacts, parse_call_event, read_event_body
from domain.errors import NotFound
from domain.leads import LeadStatus, StatusChange, advance_status
from domain.phones import normalize_phone, region_for_timezone
from persistence import calls as call_store
from persistence.calls import CallContact, EventTenant
from persistence.lead_status import change_status
from persistence.rows import CallRow
from persistence.unit_of_work import Transaction
from services.add_disposition import apply_disposition, record_call_changes
from services.deps import Deps

_ENDED = {CallStatus.COMPLETED, CallStatus.MISSED, CallStatus.NO_ANSWER, CallStatus.VOICEMAIL}


@dataclass(frozen=True)
class CallEventOutcome:
    """What happened to a delivered event: stored and projected, or recognised as a redelivery."""

    duplicate: bool
    call_id: UUID | None = None
    status: CallStatus | None = None


def _kind(facts: CallEventFacts, status: CallStatus) -> str:
    if facts.state == DISPOSITION_STATE:
        return "DISPOSITION"
    if status in _ENDED:
        return "ENDED"
    return "CONNECTED" if status is CallStatus.CONNECTED else "RINGING"


def _region(tenant: EventTenant) -> str | None:
    return tenant.settings.default_region or region_for_timezone(tenant.timezone)


async def apply_call_event(deps: Deps, *, tenant_slug: str, body: bytes) -> CallEventOutcome:
    """Verify a Dialpad webhook body, store the event once and re-project its call, contact and lead."""
    async with deps.unit_of_work() as tx:
        tenant = await call_store.get_event_tenant(tx, tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {tenant_slug!r}")
        claims, _signed = read_event_body(
            body,
            secret=tenant.dialpad_webhook_secret,
            allow_unsigned=tenant.settings.allow_unsigned_events,
            now=deps.clock.now(),
        )
        facts = parse_call_event(claims)
        locked = await call_store.store_event_and_lock_call(tx, tenant_id=tenant.id, facts=facts, raw=claims)
        if locked is None:
            return CallEventOutcome(duplicate=True)
        before = locked.call
        # Re-fold every stored event of the call: the row is a projection, whatever the arrival order.
        history = [parse_call_event(raw) for raw in locked.history]
        history.append(facts)
        region = _region(tenant)
        projection = project_call(history, region=region)
        call = before
        contact = _contact_for(before, projection, region)
        columns = projection.columns()
        call_changed = contact.phone_e164 is not None or call_store.projection_differs(
            before, columns, contact.contact_id
        )
        if call_changed:
            call = await call_store.update_call(tx, call=before, columns=columns, contact=contact)
        lead_changes, status_change = await _update_lead(tx, before, call)
        disposition_changed = False
        # Only the newest `dispositions` event of a call decides its disposition.
        if (
            facts.state == DISPOSITION_STATE
            and facts.dispositions
            and projection.disposition_event_ms == facts.event_ms
        ):
            outcome = await apply_disposition(
                tx,
                call=call,
                booked_keywords=tenant.settings.booked_dispositions,
                raw=facts.dispositions,
                at=datetime.fromtimestamp(facts.event_ms / 1000, tz=UTC),
                changed_by=None,
            )
            call, disposition_changed = outcome.call, outcome.call_changed
            lead_changes.extend(outcome.lead_changes)
            if outcome.status_change is not None:
                status_change = (
                    status_change.then(outcome.status_change) if status_change else outcome.status_change
                )
        status = CallStatus(call.status)
        await record_call_changes(
            tx,
            call=call,
            kind=_kind(facts, status) if call_changed or disposition_changed else None,
            lead_changes=lead_changes,
            status_change=status_change,
        )
    return CallEventOutcome(duplicate=False, call_id=call.id, status=status)


def _contact_for(before: CallRow, projection: CallProjection, region: str | None) -> CallContact:
    """The tenant's contact with the call's external number, found or made by the call update (kept once linked)."""
    if before.contact_id is not None and before.external_number == projection.external_number:
        return CallContact(contact_id=before.contact_id)
    phone = normalize_phone(projection.external_number, region)
    if phone is None or phone.e164 is None:
        return CallContact()
    name = projection.contact_name if _is_name(projection.contact_name) else None
    return CallContact(phone_e164=phone.e164, name=name)


def _is_name(text: str | None) -> bool:
    """Dialpad names unknown callers by their number (`0412 345 678`); that is no name."""
    return text is not None and any(char.isalpha() for char in text)


async def _update_lead(
    tx: Transaction, before: CallRow, call: CallRow
) -> tuple[list[str], StatusChange | None]:
    """Fold the call's attempt and connect times into its lead; a connect moves NEW -> CONTACTED.

    Returns the lead's changed columns and its status change, if any."""
    if call.lead_id is None:
        return [], None
    relevant = ("lead_id", "direction", "started_at", "connected_at")
    if all(getattr(before, name) == getattr(call, name) for name in relevant):
        return [], None
    outbound = call.direction == CallDirection.OUTBOUND.value
    facts = await call_store.update_lead_facts(
        tx,
        lead_id=call.lead_id,
        attempt_at=call.started_at if outbound else None,
        connected_at=call.connected_at,
    )
    if facts is None:
        return [], None
    changes = list(facts.changes)
    status_change: StatusChange | None = None
    if (
        call.connected_at is not None
        and advance_status(facts.status, LeadStatus.CONTACTED) is not facts.status
    ):
        status_change = await change_status(
            tx,
            lead_id=call.lead_id,
            to_status=LeadStatus.CONTACTED,
            at=call.connected_at,
            reason="call connected",
        )
        changes.append("status")
    return changes, status_change
