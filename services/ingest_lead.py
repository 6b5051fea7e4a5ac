"""Ingest a lead posted to a tenant's lead webhook: contact merge, lead, LEAD_CREATED event; idempotent."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import BadInput, NotFound, Unavailable
from domain.lead_intake import ContactPoint, LeadInput, check_lead_ids, contact_point
from persistence import leads as lead_store
from persistence import tenants as tenant_store
from persistence.contacts import ContactFields, ContactRaced
from persistence.leads import RegionCheck
from services.deps import Deps
from services.intake_hints import RegionHint
from services.route_call_event import route_waiting_events

log = logging.getLogger("calltrax.leads")

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Attempts of the write when a race (adopted phone, stale region hint) asks for another go.
_ATTEMPTS = 3


@dataclass(frozen=True)
class LeadIngested:
    lead_id: UUID
    contact_id: UUID
    tenant_id: UUID
    duplicate: bool


class _Stale(Exception):
    """The region hint no longer matched the tenant."""


class _LostRace(Exception):
    """A concurrent request with the same idempotency key committed first; this one wrote nothing."""


async def _fresh_hint(deps: Deps, token: str) -> RegionHint:
    """Read the webhook's tenant now; 404 when the token is unknown or inactive."""
    async with deps.reader() as connection:
        found = await tenant_store.find_active_webhook(connection, token)
    if found is None:
        deps.intake_hints.remember(token, None)
        raise NotFound("no active lead webhook at this address")
    tenant = found[1]
    hint = RegionHint(timezone=tenant.timezone, default_region=tenant.settings.default_region)
    deps.intake_hints.remember(token, hint)
    return hint


# Tokens are URL-safe base64; anything else (a NUL byte, a megabyte) cannot be one, so it is not looked up.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,256}")


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    key = raw.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise BadInput(
            "the Idempotency-Key header is too long",
            fields={"Idempotency-Key": f"at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"},
        )
    return key


def _validated(
    lead: LeadInput, idempotency_key: str | None, region: str | None
) -> tuple[str | None, ContactPoint]:
    """The idempotency key and the lead's contact point; BadInput naming what is wrong."""
    key = _idempotency_key(idempotency_key)
    check_lead_ids(lead)
    return key, contact_point(lead, region)


def _contact_fields(lead: LeadInput, point: ContactPoint) -> ContactFields:
    return ContactFields(
        phone=point.phone_e164,
        phone_raw=point.phone.raw if point.phone else None,
        phone_invalid=point.phone_invalid,
        email=point.email,
        name=lead.name,
        city=lead.city,
        metadata=lead.contact_metadata,
    )


async def ingest_lead(
    deps: Deps,
    *,
    token: str,
    lead: LeadInput,
    raw_data: dict[str, Any],
    idempotency_key: str | None = None,
) -> LeadIngested:
    """Store a lead and its contact (merged by phone, else email) and record LEAD_CREATED; repeats are duplicates."""
    received_at = deps.clock.now()
    if not _TOKEN.fullmatch(token):
        raise NotFound("no active lead webhook at this address")
    hint = deps.intake_hints.region_of(token)
    for _ in range(_ATTEMPTS):
        try:
            key, point = _validated(lead, idempotency_key, hint.region if hint else None)
            if point.needs_region and hint is None:
                hint = await _fresh_hint(deps, token)
                key, point = _validated(lead, idempotency_key, hint.region)
        except BadInput:
            # An unknown token is a 404 whatever the body says; the region may also have changed.
            hint = await _fresh_hint(deps, token)
            key, point = _validated(lead, idempotency_key, hint.region)
        try:
            return await _write(
                deps,
                token=token,
                lead=lead,
                point=point,
                region_check=hint.check if (hint and point.needs_region) else None,
                raw_data=raw_data,
                key=key,
                received_at=received_at,
            )
        except _Stale:
            hint = await _fresh_hint(deps, token)
        except ContactRaced:
            continue
        except _LostRace:
            # The next attempt finds the winner's lead as `existing` and answers it as a duplicate.
            continue
    raise Unavailable("the lead could not be stored because of concurrent requests; retry")


async def _write(
    deps: Deps,
    *,
    token: str,
    lead: LeadInput,
    point: ContactPoint,
    region_check: RegionCheck | None,
    raw_data: dict[str, Any],
    key: str | None,
    received_at: datetime,
) -> LeadIngested:
    # The new lead's LEAD_CREATED row is published (the relay numbers it) as the block ends.
    async with deps.write_gate, deps.statements() as work:
        intake = await lead_store.ingest(
            work,
            token=token,
            region_check=region_check,
            contact=_contact_fields(lead, point),
            source=lead.source,
            notes=lead.notes,
            raw_data=raw_data,
            external_id=lead.external_id,
            idempotency_key=key,
            received_at=received_at,
        )
    if not intake.webhook_found:
        if region_check is not None:
            raise _Stale
        raise NotFound("no active lead webhook at this address")
    if intake.lost_race:
        raise _LostRace
    assert intake.tenant_id is not None
    if intake.existing_lead_id is not None and intake.existing_contact_id is not None:
        return LeadIngested(
            lead_id=intake.existing_lead_id,
            contact_id=intake.existing_contact_id,
            tenant_id=intake.tenant_id,
            duplicate=True,
        )
    assert intake.lead_id is not None
    assert intake.contact_id is not None
    if point.phone_e164 is not None and intake.calls_waiting:
        await _route_waiting_calls(deps, point.phone_e164)
    return LeadIngested(
        lead_id=intake.lead_id, contact_id=intake.contact_id, tenant_id=intake.tenant_id, duplicate=False
    )


async def _route_waiting_calls(deps: Deps, phone: str) -> None:
    """Calls the company endpoint kept for want of a tenant go to this lead's now (issue 15). The lead
    is stored whatever happens here: a failure is logged and the events wait for the next lead."""
    try:
        await route_waiting_events(deps, phone=phone)
    except Exception:
        log.exception("could not route waiting Dialpad events")
