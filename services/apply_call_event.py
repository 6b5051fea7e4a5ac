"""Verify one Dialpad webhook body, store its event once, and re-project the call, its contact and lead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.call_projection import CallProjection, project_call
from domain.calls import CallDirection, CallStatus
from domain.dialpad_events import DISPOSITION_STATE, CallEventFacts, parse_call_event, read_event_body
from domain.errors import NotFound
from domain.leads import LeadStatus, StatusChange, advance_status
from domain.phones import normalize_phone, region_for_timezone
from persistence import calls as call_store
from persistence.calls import EventTenant
from persistence.contacts import ensure_contact_by_phone
from persistence.lead_status import change_status
from persistence.rows import CallRow
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
        connection = tx.connection
        tenant = await call_store.get_event_tenant(connection, tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant with slug {tenant_slug!r}")
        claims, _signed = read_event_body(
            body,
            secret=tenant.dialpad_webhook_secret,
            allow_unsigned=tenant.settings.allow_unsigned_events,
            now=deps.clock.now(),
        )
        facts = parse_call_event(claims)
        locked = await call_store.store_event_and_lock_call(
            connection, tenant_id=tenant.id, facts=facts, raw=claims
        )
        if locked is None:
            return CallEventOutcome(duplicate=True)
        before = locked.call
        # Re-fold every stored event of the call: the row is a projection, whatever the arrival order.
        # (A call this event created has no other event yet: the lock serialises its later ones.)
        if locked.created:
            history = [facts]
        else:
            payloads = await call_store.call_event_payloads(
                connection, tenant_id=tenant.id, call_external_id=facts.call_id
            )
            history = [parse_call_event(raw) for raw in payloads]
        region = _region(tenant)
        projection = project_call(history, region=region)
        call = before
        contact_id = await _contact_for(connection, tenant, before, projection, region)
        columns = projection.columns()
        call_changed = call_store.projection_differs(before, columns, contact_id)
        if call_changed:
            call = await call_store.update_call(
                connection, call_id=before.id, columns=columns, contact_id=contact_id
            )
        lead_changes, status_change = await _update_lead(connection, before, call)
        disposition_changed = False
        # Only the newest `dispositions` event of a call decides its disposition.
        if (
            facts.state == DISPOSITION_STATE
            and facts.dispositions
            and projection.disposition_event_ms == facts.event_ms
        ):
            outcome = await apply_disposition(
                connection,
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


async def _contact_for(
    connection: AsyncConnection,
    tenant: EventTenant,
    before: CallRow,
    projection: CallProjection,
    region: str | None,
) -> UUID | None:
    """The tenant's contact with the call's external number, created if unknown (kept once linked)."""
    if before.contact_id is not None and before.external_number == projection.external_number:
        return before.contact_id
    phone = normalize_phone(projection.external_number, region)
    if phone is None or phone.e164 is None:
        return None
    return await ensure_contact_by_phone(
        connection,
        tenant_id=tenant.id,
        phone_e164=phone.e164,
        name=projection.contact_name if _is_name(projection.contact_name) else None,
    )


def _is_name(text: str | None) -> bool:
    """Dialpad names unknown callers by their number (`0412 345 678`); that is no name."""
    return text is not None and any(char.isalpha() for char in text)


async def _update_lead(
    connection: AsyncConnection, before: CallRow, call: CallRow
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
        connection,
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
            connection,
            lead_id=call.lead_id,
            to_status=LeadStatus.CONTACTED,
            at=call.connected_at,
            reason="call connected",
        )
        changes.append("status")
    return changes, status_change
