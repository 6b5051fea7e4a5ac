"""Verify one Dialpad webhook body, store its event once, and re-project the call, its contact and lead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.call_projection import CallProjection, primary_leg, project_call, project_customer_call
from domain.calls import CallStatus
from domain.dialpad_events import (
    DISPOSITION_STATE,
    CallEventFacts,
    MalformedEvent,
    parse_call_event,
)
from domain.dispositions import Disposition, decide_disposition
from domain.errors import BadInput, NotFound, Unauthenticated, Unavailable
from domain.phones import normalize_phone, region_for_timezone
from domain.provisioning import SLUG
from persistence import calls as call_store
from persistence.calls import (
    Booking,
    CallContact,
    EventTenant,
    KnownEvents,
    LockedCall,
    TenantChanged,
    WrittenCall,
)
from persistence.rows import CallRow
from persistence.unit_of_work import Transaction
from services.add_disposition import booking_for
from services.call_hints import CallEventHints, KnownLeg
from services.deps import Deps
from services.dialpad_event_body import read_event_body

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


# Reads of a tenant that keeps changing between its read and the write, before asking for a retry.
_ATTEMPTS = 3


def _history(locked: LockedCall, known: KnownLeg | None) -> list[CallEventFacts]:
    """A locked leg's stored events: as read, or as this process knew them (the read said so)."""
    if locked.history is None:
        assert known is not None  # the statement leaves the events out only when told they are known
        return list(known.facts)
    return stored_facts(locked.history)


def stored_facts(raws: Iterable[dict[str, Any]]) -> list[CallEventFacts]:
    """Stored events as facts, leaving out any the door refuses now (stored before a rule refused
    it, e.g. a state that is an object): as the recompute migration does, so one old event cannot
    make every later event of its call a 400 that Dialpad never retries."""
    facts: list[CallEventFacts] = []
    for raw in raws:
        try:
            facts.append(parse_call_event(raw))
        except MalformedEvent:
            continue
    return facts


async def _fresh_tenant(deps: Deps, slug: str) -> EventTenant:
    if not SLUG.match(slug):
        # Not a slug any tenant can have (a NUL in the path would otherwise fail in SQL).
        raise NotFound("no tenant at this address")
    async with deps.reader() as connection:
        tenant = await call_store.get_event_tenant(connection, slug)
    deps.call_hints.remember_tenant(slug, tenant)
    if tenant is None:
        raise NotFound(f"no tenant with slug {slug!r}")
    return tenant


async def apply_call_event(deps: Deps, *, tenant_slug: str, body: bytes) -> CallEventOutcome:
    """Verify a Dialpad webhook body, store the event once and re-project its call, contact and lead."""
    tenant = deps.call_hints.tenants.get(tenant_slug)
    fresh = tenant is None
    if tenant is None:
        tenant = await _fresh_tenant(deps, tenant_slug)
    for _ in range(_ATTEMPTS):
        try:
            claims, _signed = read_event_body(
                body,
                secret=tenant.dialpad_webhook_secret,
                allow_unsigned=tenant.settings.allow_unsigned_events,
                now=deps.clock.now(),
            )
            facts = parse_call_event(claims)
        except (Unauthenticated, BadInput):
            if fresh:
                raise
            # Perhaps signed with a secret (or sent under a setting) newer than the cached tenant.
            tenant, fresh = await _fresh_tenant(deps, tenant_slug), True
            continue
        try:
            return await _apply_once(deps, tenant, facts, claims)
        except TenantChanged:
            tenant, fresh = await _fresh_tenant(deps, tenant_slug), True
    raise Unavailable("the tenant's settings kept changing; retry shortly")


async def apply_routed_event(
    deps: Deps, *, tenant_slug: str, claims: dict[str, Any], facts: CallEventFacts
) -> CallEventOutcome:
    """Apply an event already verified elsewhere (the company endpoint) to the tenant it was routed to."""
    tenant = deps.call_hints.tenants.get(tenant_slug) or await _fresh_tenant(deps, tenant_slug)
    for _ in range(_ATTEMPTS):
        try:
            return await _apply_once(deps, tenant, facts, claims)
        except TenantChanged:
            tenant = await _fresh_tenant(deps, tenant_slug)
    raise Unavailable("the tenant's settings kept changing; retry shortly")


async def _apply_once(
    deps: Deps, tenant: EventTenant, facts: CallEventFacts, claims: dict[str, Any]
) -> CallEventOutcome:
    """`_apply`, unless the same event is being applied in this process right now: Dialpad's
    redeliveries can arrive while the first delivery is still in its transaction, and would wait
    there on the event's unique key holding a connection. They wait here instead, and are answered
    as the duplicates they are once it has committed (or applied after all, if it failed)."""
    key = (tenant.id, facts.call_id, facts.state, facts.event_ms)
    first = deps.in_flight.get(key)
    if first is not None:
        if await asyncio.shield(first):
            return CallEventOutcome(duplicate=True)
        return await _apply_once(deps, tenant, facts, claims)
    stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    deps.in_flight[key] = stored
    try:
        outcome = await _apply(deps, tenant, facts, claims)
    except BaseException:
        stored.set_result(False)
        raise
    finally:
        del deps.in_flight[key]
    stored.set_result(True)
    return outcome


async def _apply(
    deps: Deps, tenant: EventTenant, facts: CallEventFacts, claims: dict[str, Any]
) -> CallEventOutcome:
    """Store the verified event and re-project its call, contact and lead, in one transaction."""
    region = _region(tenant)
    scope = call_store.customer_lock_scope(tenant.id, _customer_number(facts, region))
    known = deps.call_hints.known.get((tenant.id, facts.call_id))
    if _alone(facts, known):
        applied = await _apply_known(deps, tenant, facts, claims, known, region, scope)
        if applied is not None:
            return applied
    learned: dict[str, KnownLeg] = {}
    group: list[tuple[str, ...]] = []
    async with deps.write_gate, deps.unit_of_work() as tx:
        locked = await call_store.store_event_and_lock_call(
            tx,
            tenant=tenant,
            facts=facts,
            raw=claims,
            lock_scope=scope,
            known=known.events if known else None,
        )
        if locked is None:
            return CallEventOutcome(duplicate=True)
        before = locked.call
        # Re-fold every stored event of the call: the row is a projection, whatever the arrival order.
        history = _history(locked, known)
        history.append(facts)
        events = KnownEvents(before.id, locked.event_count)
        projection = project_call(history, region=region)
        links = sorted({link for fact in history for link in fact.links})
        if links or before.linked:
            learned[facts.call_id] = KnownLeg(events, tuple(history))
            status = await _apply_to_customer_call(
                tx,
                deps.call_hints,
                tenant,
                facts,
                locked,
                history,
                links,
                region,
                learned=learned,
                group=group,
            )
        else:
            write = _plan_write(tenant, facts, before, projection, region, event_is_newest=True)
            written = await _write_call(tx, before, write)
            status = write.status
            if written is None and locked.row_version is not None:
                written = WrittenCall(call=before, row_version=locked.row_version)
            learned[facts.call_id] = KnownLeg(events, tuple(history), row=written)
    deps.call_hints.learn(tenant.id, learned, group[0] if group else None)
    return CallEventOutcome(duplicate=False, call_id=before.id, status=status)


def _alone(facts: CallEventFacts, known: KnownLeg | None) -> bool:
    """True when the event is of a call of one leg (so far) whose events and row this process knows,
    and not one of its stored events; or, knowing nothing of its call, it names no other leg (it is
    then taken for its call's first: `call_store.apply_known_event` checks)."""
    if known is None:
        return not facts.links
    return (
        known.row is not None
        and not known.row.call.linked
        and not facts.links
        and all((fact.state, fact.event_ms) != (facts.state, facts.event_ms) for fact in known.facts)
    )


async def _apply_known(
    deps: Deps,
    tenant: EventTenant,
    facts: CallEventFacts,
    claims: dict[str, Any],
    known: KnownLeg | None,
    region: str | None,
    scope: str,
) -> CallEventOutcome | None:
    """A new event of a call of one leg whose events and row this process knows (or of a call new to
    it): re-project the call from them and write it all in one statement; None when the row changed
    meanwhile, or exists though this process knows nothing of it (nothing is written then)."""
    before = known.row if known else None
    history = (*known.facts, facts) if known else (facts,)
    projection = project_call(history, region=region)
    write = _plan_write(
        tenant, facts, before.call if before else None, projection, region, event_is_newest=True
    )
    if not write.changed:
        return None
    async with deps.write_gate, deps.statements() as work:
        written = await call_store.apply_known_event(
            work,
            tenant=tenant,
            facts=facts,
            raw=claims,
            lock_scope=scope,
            before=before,
            columns=write.columns,
            contact=write.contact,
            disposition=write.disposition,
            kind=write.kind,
            booking=write.booking,
        )
        if written is None:
            return None
    events = KnownEvents(written.call.id, len(history))
    deps.call_hints.learn(tenant.id, {facts.call_id: KnownLeg(events, history, row=written)}, None)
    return CallEventOutcome(duplicate=False, call_id=written.call.id, status=write.status)


@dataclass(frozen=True)
class _CallWrite:
    """What an event writes on a customer call's (primary) row, and what follows for its contact and lead."""

    columns: dict[str, object]
    contact: CallContact
    # The disposition to write (only when it changes the row).
    disposition: Disposition | None
    booking: Booking | None
    kind: str
    status: CallStatus
    # False: the row stays as it is (only `booking` may apply).
    changed: bool


def _plan_write(
    tenant: EventTenant,
    facts: CallEventFacts,
    before: CallRow | None,
    projection: CallProjection,
    region: str | None,
    *,
    event_is_newest: bool,
) -> _CallWrite:
    """What writing a customer call's record on its (primary) row `before` changes (None: a row
    about to be made for the call's first event).

    `event_is_newest`: this event is what the customer call's newest disposition may come from (a
    primary row that changed carries the customer call's disposition whichever event it is)."""
    contact = _contact_for(before, projection, region)
    columns = projection.columns()
    # Only the newest `dispositions` event of a customer call decides its disposition.
    newest = projection.disposition_event_ms
    decides = (
        newest == facts.event_ms and facts.state == DISPOSITION_STATE
        if event_is_newest
        else newest is not None
    )
    disposition = _decided(projection.dispositions, tenant) if decides else None
    disposition_changed = disposition is not None and call_store.disposition_differs(before, disposition)
    call_changed = contact.phone_e164 is not None or call_store.projection_differs(
        before, columns, contact.contact_id
    )
    at = datetime.fromtimestamp((newest if newest is not None else facts.event_ms) / 1000, tz=UTC)
    booking = (
        booking_for(disposition, at=at, changed_by=None) if event_is_newest or disposition_changed else None
    )
    return _CallWrite(
        columns=columns,
        contact=contact,
        disposition=disposition if disposition_changed else None,
        booking=booking,
        kind=_kind(facts, projection.status),
        status=projection.status,
        changed=call_changed or disposition_changed,
    )


async def _write_call(
    tx: Transaction,
    before: CallRow,
    write: _CallWrite,
    *,
    primary: str | None = None,
    legs: list[dict[str, object]] | None = None,
) -> WrittenCall | None:
    """Write a customer call's record on its (primary) row, with what follows for its contact and
    lead, then its other `legs`' rows (`call_store.write_legs`); the row as written, None when it
    stayed as it was."""
    written = None
    if write.changed:
        # One statement: the call, its contact, what that changes for its lead, and the events.
        written = await call_store.update_call(
            tx,
            call=before,
            columns=write.columns,
            contact=write.contact,
            disposition=write.disposition,
            kind=write.kind,
            booking=write.booking,
        )
    else:
        await call_store.write_call_outcome(
            tx, tenant_id=before.tenant_id, call_payload=None, lead_id=before.lead_id, booking=write.booking
        )
    if legs and primary is not None:
        await call_store.write_legs(tx, tenant_id=before.tenant_id, primary=primary, legs=legs)
    return written


async def _apply_to_customer_call(
    tx: Transaction,
    hints: CallEventHints,
    tenant: EventTenant,
    facts: CallEventFacts,
    locked: LockedCall,
    history: list[CallEventFacts],
    links: list[str],
    region: str | None,
    *,
    learned: dict[str, KnownLeg],
    group: list[tuple[str, ...]],
) -> CallStatus:
    """An event of a leg of a customer call of several legs: re-project the customer call on its
    primary leg's row, and each leg's own record on its row (`domain/call_projection.py`).

    Fills `learned` with the legs' events and `group` with (primary, its other legs) for `hints.learn`."""
    own = locked.call
    own_key = own.customer_call_key or own.external_id
    candidates = set(links) | set(hints.groups.get((tenant.id, own_key), ()))
    known = {
        call_id: seen for call_id in candidates if (seen := hints.known.get((tenant.id, call_id))) is not None
    }
    others = await call_store.customer_call_legs(
        tx,
        tenant_id=tenant.id,
        call_id=own.external_id,
        own_key=own_key,
        links=links,
        known=[seen.events for seen in known.values()],
    )
    rows = {own.external_id: own} | {leg.call.external_id: leg.call for leg in others}
    legs = {own.external_id: history}
    for other in others:
        call_id = other.call.external_id
        events = _history(other, known.get(call_id))
        learned[call_id] = KnownLeg(KnownEvents(other.call.id, other.event_count), tuple(events))
        if events:
            legs[call_id] = events
    named = {link for events in legs.values() for fact in events for link in fact.links}
    primary = primary_leg(legs)
    customer = project_customer_call(legs, primary=primary, region=region)
    written = []
    for call_id in sorted((named | set(rows)) - {primary}):
        if call_id in legs:
            leg = project_call(legs[call_id], region=region).as_leg_of(primary)
            columns = leg.columns()
            disposition = _decided(leg.dispositions, tenant)
            columns.update(
                disposition=disposition.value if disposition else None,
                disposition_raw=disposition.raw if disposition else None,
                booked=disposition.booked if disposition else False,
            )
        else:
            columns = _placeholder(call_id, primary, customer)
        row = rows.get(call_id)
        if row is None or call_store.leg_differs(row, columns):
            written.append({"external_id": call_id, **columns})
    group.append((primary, *sorted((named | set(rows)) - {primary})))
    # The primary row takes the customer call (its newest disposition, from whichever leg); a
    # primary it replaces becomes a leg again.
    write = _plan_write(tenant, facts, rows[primary], customer, region, event_is_newest=False)
    await _write_call(tx, rows[primary], write, primary=customer.external_id, legs=written)
    return write.status


def _decided(dispositions: tuple[str, ...], tenant: EventTenant) -> Disposition | None:
    """The disposition a `dispositions` event sets; None when it names none (blank texts included)."""
    try:
        return decide_disposition(dispositions, tenant.settings.booked_dispositions) if dispositions else None
    except BadInput:
        return None


def _placeholder(call_id: str, key: str, customer: CallProjection) -> dict[str, object]:
    """A named leg without events yet: a row that says which customer call it belongs to, so its
    first event finds its customer call by its own row."""
    columns: dict[str, object] = dict.fromkeys(call_store.LEG_COLUMNS)
    columns.update(
        direction=customer.direction.value,
        status=CallStatus.RINGING.value,
        customer_call_key=key,
        is_primary_leg=False,
        linked=True,
        voicemail=False,
        booked=False,
        last_event_at=None,
    )
    return columns


def _customer_number(facts: CallEventFacts, region: str | None) -> str | None:
    phone = normalize_phone(facts.external_number, region)
    return phone.e164 if phone is not None else None


def _contact_for(before: CallRow | None, projection: CallProjection, region: str | None) -> CallContact:
    """The tenant's contact with the call's external number, found or made by the call update (kept once linked)."""
    if (
        before is not None
        and before.contact_id is not None
        and before.external_number == projection.external_number
    ):
        return CallContact(contact_id=before.contact_id)
    phone = normalize_phone(projection.external_number, region)
    if phone is None or phone.e164 is None:
        return CallContact()
    name = projection.contact_name if _is_name(projection.contact_name) else None
    return CallContact(phone_e164=phone.e164, name=name)


def _is_name(text: str | None) -> bool:
    """Dialpad names unknown callers by their number (`0412 345 678`); that is no name."""
    return text is not None and any(char.isalpha() for char in text)
