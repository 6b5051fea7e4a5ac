"""The company-wide Dialpad endpoint: verify an event with the company secret, find its tenant, apply it
there through the per-tenant path, or keep it in the inbox until a lead with its number arrives."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from domain.dialpad_events import CallEventFacts, MalformedEvent, parse_call_event
from domain.dialpad_routing import RouteReason, call_center_ids, is_internal, linked_call_ids
from domain.errors import Unauthenticated
from domain.phones import normalize_phone
from persistence import dialpad_company as company_store
from services.apply_call_event import CallEventOutcome, apply_routed_event
from services.deps import Deps
from services.dialpad_event_body import read_event_body

log = logging.getLogger("calltrax.dialpad.routing")


@dataclass(frozen=True)
class CompanyEventOutcome:
    """Where a company event went: applied to a tenant (`routed`), or kept in the inbox (`inbox`)."""

    applied: CallEventOutcome | None
    routed: RouteReason | None = None
    inbox: RouteReason | None = None
    duplicate: bool = False


async def _company_secret(deps: Deps, *, fresh: bool) -> str:
    """The company secret, as last read unless `fresh` (a hint: see `CallEventHints.company_secret`)."""
    hints = deps.call_hints
    if hints.company_secret is not None and not fresh:
        return hints.company_secret
    async with deps.reader() as connection:
        company = await company_store.get_company(connection)
    hints.company_secret = company.secret if company is not None else None
    if company is None:
        raise Unauthenticated("the company Dialpad endpoint is not set up: run `calltrax dialpad setup`")
    return company.secret


def _phone(facts: CallEventFacts) -> str | None:
    # Dialpad sends E.164; a national number cannot be read without a tenant, so it routes by call only.
    phone = normalize_phone(facts.external_number, None)
    return phone.e164 if phone is not None else None


async def receive_company_event(deps: Deps, *, body: bytes) -> CompanyEventOutcome:
    """Verify a body signed with the company secret and route its event (domain.dialpad_routing)."""
    cached = deps.call_hints.company_secret is not None
    secret = await _company_secret(deps, fresh=False)
    try:
        claims, _signed = read_event_body(body, secret=secret, allow_unsigned=False, now=deps.clock.now())
    except Unauthenticated:
        if not cached:
            raise
        secret = await _company_secret(deps, fresh=True)
        claims, _signed = read_event_body(body, secret=secret, allow_unsigned=False, now=deps.clock.now())
    facts = parse_call_event(claims)
    return await _route(deps, claims, facts)


async def _route(deps: Deps, claims: dict[str, Any], facts: CallEventFacts) -> CompanyEventOutcome:
    phone = _phone(facts)
    if is_internal(claims):
        return await _keep(deps, claims, facts, phone, RouteReason.INTERNAL)
    legs = deps.call_hints.routed_legs()
    known = legs.get(facts.call_id)
    if known is not None:
        applied = await apply_routed_event(deps, tenant_slug=known, claims=claims, facts=facts)
        return CompanyEventOutcome(
            applied=applied, routed=RouteReason.LINKED_CALL, duplicate=applied.duplicate
        )
    async with deps.write_gate, deps.reader() as connection:
        route = await company_store.route_event(
            connection,
            centers=call_center_ids(claims),
            legs=linked_call_ids(claims, facts.call_id),
            phone=phone,
        )
    if route is None:
        return await _keep(deps, claims, facts, phone, RouteReason.NO_TENANT)
    applied = await apply_routed_event(deps, tenant_slug=route.slug, claims=claims, facts=facts)
    legs[facts.call_id] = route.slug
    if route.legs_waiting:
        # Earlier events of this leg, or of a leg at the same number that names it (an agent's leg
        # behind this call-center leg), arrived with nothing to route them by: they follow it. Those
        # at the number that still route nowhere keep waiting.
        await route_waiting_events(deps, phone=phone, call_ids=linked_call_ids(claims, facts.call_id))
    return CompanyEventOutcome(applied=applied, routed=route.reason, duplicate=applied.duplicate)


async def _keep(
    deps: Deps, claims: dict[str, Any], facts: CallEventFacts, phone: str | None, reason: RouteReason
) -> CompanyEventOutcome:
    # One autocommit statement: atomic without a BEGIN/COMMIT round trip.
    async with deps.write_gate, deps.reader() as connection:
        stored = await company_store.store_in_inbox(
            connection,
            call_id=facts.call_id,
            state=facts.state,
            event_ms=facts.event_ms,
            phone=phone,
            reason=reason,
            raw=claims,
        )
    return CompanyEventOutcome(applied=None, inbox=reason, duplicate=not stored)


async def route_waiting_events(deps: Deps, *, phone: str | None, call_ids: list[str] | None = None) -> int:
    """Route the inbox's events at `phone` (a lead with it has just arrived) or of `call_ids` (a leg that
    has just found its tenant), then those of the same legs that carried no number; each is applied
    as if it had arrived in order (the call is a projection of all its events). Returns how many were
    applied."""
    async with deps.reader() as connection:
        waiting = await company_store.waiting_for(connection, phone=phone, call_ids=call_ids or [])
    applied = 0
    done: set[int] = set()
    while waiting:
        legs: set[str] = set()
        for row in waiting:
            done.add(row.id)
            try:
                facts = parse_call_event(row.raw)
            except MalformedEvent:
                # Kept before a rule refused it at the door: it waits for good rather than stopping
                # the events behind it (and the lead's intake, which runs this after its commit).
                continue
            async with deps.reader() as connection:
                route = await company_store.route_event(
                    connection,
                    centers=call_center_ids(row.raw),
                    legs=linked_call_ids(row.raw, facts.call_id),
                    phone=_phone(facts),
                )
            if route is None:
                continue
            await apply_routed_event(deps, tenant_slug=route.slug, claims=row.raw, facts=facts)
            async with deps.unit_of_work() as tx:
                await company_store.mark_routed(tx.connection, inbox_id=row.id, tenant_id=route.tenant_id)
            applied += 1
            legs.add(facts.call_id)
        if not legs:
            break
        async with deps.reader() as connection:
            waiting = [
                row
                for row in await company_store.waiting_for(connection, phone=None, call_ids=sorted(legs))
                if row.id not in done
            ]
    if applied:
        log.info("inbox events routed", extra={"count": applied})
    return applied
