"""Provision a client: reserve the tenant, create its Dialpad call center (and operators); the company
subscription covers its calls."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.call_center_hours import convert_hours
from domain.errors import BadInput, Conflict, DialpadError, Forbidden, Unavailable
from domain.events import EventType, NewEvent
from domain.ports import DialpadGateway
from domain.provisioning import ProvisioningStep, is_timezone, validate_input
from domain.roles import Principal, Role, can_administer
from domain.tenants import DialpadMode, TenantSettings, TenantStatus
from persistence import provisioning as provisioning_store
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.snapshots import snapshot
from persistence.tenants import TenantRow
from persistence.users import UserRow
from services.deps import Deps
from services.dialpad_setup import company_events_url, ensure_company_subscription

log = logging.getLogger("calltrax.provisioning")

# Dialpad resources in creation order; undone in reverse. (step, tenant column, gateway delete method)
_RESOURCES: tuple[tuple[str, str, str], ...] = (
    (ProvisioningStep.CALL_CENTER, "dialpad_call_center_id", "delete_call_center"),
    (ProvisioningStep.WEBHOOK, "dialpad_webhook_id", "delete_webhook"),
    (ProvisioningStep.SUBSCRIPTION, "dialpad_subscription_id", "delete_call_subscription"),
)


@dataclass(frozen=True)
class ProvisionedClient:
    """A provisioned tenant and the URLs its sources post to."""

    tenant: TenantRow
    dialpad_events_url: str
    inbound_leads_url: str | None
    dialpad_mode: DialpadMode
    # What the admin should know, e.g. business hours Dialpad cannot hold the same all year.
    notes: tuple[str, ...] = ()


def require_admin(actor: Principal | None) -> None:
    # None is the trusted CLI acting on the operator's behalf.
    if actor is not None and not can_administer(actor):
        raise Forbidden("only admins provision clients")


def require_gateway(deps: Deps) -> DialpadGateway:
    if deps.dialpad is None:
        raise Unavailable("no Dialpad gateway is configured")
    return deps.dialpad


def mode_of(gateway: DialpadGateway) -> DialpadMode:
    return DialpadMode.SIMULATED if gateway.simulated else DialpadMode.LIVE


def dialpad_events_url(deps: Deps, slug: str) -> str:
    return f"{deps.public_base_url}/webhooks/dialpad/{slug}"


def events_url_of(deps: Deps, tenant: TenantRow) -> str:
    """Where the tenant's call events arrive: its own endpoint while it still has its own Dialpad
    webhook (provisioned before the company subscription), else the company endpoint."""
    if tenant.dialpad_webhook_id is not None:
        return dialpad_events_url(deps, tenant.slug)
    return company_events_url(deps)


def tenant_event(tenant: TenantRow) -> NewEvent:
    """TENANT_UPDATED with the tenant's snapshot; the Dialpad webhook secret never leaves the server."""
    payload = snapshot(tenant, exclude={"dialpad_webhook_secret", "settings"})
    payload["settings"] = tenant.settings.to_json()
    return NewEvent(tenant.id, EventType.TENANT_UPDATED, {"tenant": payload})


async def update_tenant(deps: Deps, tenant_id: UUID, **values: Any) -> TenantRow:
    """One small transaction: set columns and record the change."""
    async with deps.unit_of_work() as tx:
        tenant = await tenant_store.update_tenant(tx.connection, tenant_id, **values)
        assert tenant is not None, "a tenant under provisioning is never deleted"
        await tx.record(tenant_event(tenant))
    return tenant


async def describe(deps: Deps, tenant: TenantRow, notes: tuple[str, ...] = ()) -> ProvisionedClient:
    """The answer for a tenant: its Dialpad events URL and its newest active lead webhook URL."""
    async with deps.reader() as connection:
        hooks = (await tenant_store.list_lead_webhooks(connection, [tenant.id]))[tenant.id]
    active = [hook for hook in hooks if hook.active]
    return ProvisionedClient(
        tenant=tenant,
        dialpad_events_url=events_url_of(deps, tenant),
        inbound_leads_url=f"{deps.public_base_url}/webhooks/lead/{active[-1].token}" if active else None,
        dialpad_mode=DialpadMode(tenant.dialpad_mode or DialpadMode.LIVE),
        notes=notes,
    )


async def undo(
    deps: Deps, gateway: DialpadGateway, tenant: TenantRow
) -> tuple[TenantRow, list[DialpadError]]:
    """Delete the tenant's Dialpad resources newest first, clearing each id once it is gone; returns the
    tenant and the failed deletes (their ids stay stored so a later call can finish)."""
    left: list[DialpadError] = []
    for step, column, delete in reversed(_RESOURCES):
        resource_id = getattr(tenant, column)
        if resource_id is None:
            continue
        try:
            await getattr(gateway, delete)(resource_id)
        except DialpadError as error:
            log.warning("could not delete a Dialpad resource", extra={"step": step, "error": error.message})
            left.append(error)
            continue
        values: dict[str, Any] = {column: None}
        if step == ProvisioningStep.WEBHOOK:
            values["dialpad_webhook_secret"] = None
        tenant = await update_tenant(deps, tenant.id, **values)
    return tenant, left


async def _hours_in_call_center_zone(
    deps: Deps, gateway: DialpadGateway, tenant: TenantRow, call_center: dict[str, Any]
) -> str | None:
    """Dialpad applies the hours in the call center's timezone (its office's, in the create answer):
    send them converted when it is not the tenant's; the note when no one conversion fits the year."""
    zone = call_center.get("timezone")
    if not isinstance(zone, str) or zone == tenant.timezone or not is_timezone(zone):
        return None
    converted = convert_hours(
        tenant.settings.business_hours,
        from_zone=tenant.timezone,
        to_zone=zone,
        today=deps.clock.now().astimezone(ZoneInfo(tenant.timezone)).date(),
    )
    await gateway.update_call_center_hours(str(call_center["id"]), converted.hours)
    return converted.note


async def _add_operators(
    deps: Deps, gateway: DialpadGateway, tenant: TenantRow, operators: list[UserRow]
) -> None:
    """The given agents with a Dialpad id become operators of the new call center (the call center's
    deletion on a later failure takes them along)."""
    call_center = tenant.dialpad_call_center_id
    assert call_center is not None
    for agent in operators:
        if agent.dialpad_user_id is not None:
            await gateway.add_operator(call_center, agent.dialpad_user_id)


async def run_provisioning(
    deps: Deps,
    gateway: DialpadGateway,
    tenant: TenantRow,
    *,
    office_id: str | None,
    operators: list[UserRow] | None = None,
) -> ProvisionedClient:
    """Create whatever Dialpad resource the tenant lacks (never a second one), store each id at once, then
    mark it active with a lead webhook. On failure undo every Dialpad resource, mark it failed, re-raise.

    The caller holds the tenant's provisioning lock and has set its status to provisioning."""
    notes: list[str] = []
    try:
        if tenant.dialpad_call_center_id is None:
            call_center = await gateway.create_call_center(
                name=tenant.name, office_id=office_id, hours=tenant.settings.business_hours
            )
            tenant = await update_tenant(deps, tenant.id, dialpad_call_center_id=call_center["id"])
            note = await _hours_in_call_center_zone(deps, gateway, tenant, call_center)
            if note:
                notes.append(note)
        await _add_operators(deps, gateway, tenant, operators or [])
        # One company-wide subscription covers every tenant (Dialpad allows 100 per company): made the
        # first time it is needed, never one per tenant (issue 15).
        await ensure_company_subscription(deps, gateway, check=False)
        async with deps.unit_of_work() as tx:
            hooks = (await tenant_store.list_lead_webhooks(tx.connection, [tenant.id]))[tenant.id]
            if not hooks:
                await tenant_store.create_lead_webhook(tx.connection, tenant_id=tenant.id)
            else:
                await provisioning_store.set_lead_webhooks_active(
                    tx.connection, tenant_id=tenant.id, active=True
                )
            for agent in operators or []:
                await user_store.assign_agent(tx.connection, user_id=agent.id, tenant_id=tenant.id)
            active = await tenant_store.update_tenant(
                tx.connection, tenant.id, status=TenantStatus.ACTIVE, status_reason=None
            )
            assert active is not None
            await tx.record(tenant_event(active))
    except Exception as error:
        await _fail(deps, gateway, tenant.id, error)
        raise
    log.info("tenant provisioned", extra={"tenant_id": str(tenant.id), "slug": tenant.slug})
    return await describe(deps, active, tuple(notes))


async def _fail(deps: Deps, gateway: DialpadGateway, tenant_id: UUID, error: Exception) -> None:
    """Undo and mark the tenant failed with the reason; if even that fails, the tenant stays
    `provisioning` with its stored ids, and the free lock lets retryProvisioning pick it up."""
    reason = error.message if isinstance(error, DialpadError | Unavailable) else "unexpected error"
    if isinstance(error, DialpadError) and error.step:
        reason = f"{error.step}: {reason}"
    try:
        async with deps.reader() as connection:
            tenant = await tenant_store.get_tenant(connection, tenant_id)
        assert tenant is not None
        tenant, left = await undo(deps, gateway, tenant)
        if left:
            reason += f" (cleanup incomplete, still in Dialpad: {', '.join(str(e.step) for e in left)})"
        await update_tenant(deps, tenant_id, status=TenantStatus.FAILED, status_reason=reason[:1000])
    except Exception:
        log.exception("could not undo a failed provisioning", extra={"tenant_id": str(tenant_id)})


async def provision_client(
    deps: Deps,
    *,
    actor: Principal | None,
    name: str,
    timezone: str,
    slug: str | None = None,
    business_hours: Mapping[str, list[str] | None] | None = None,
    office_id: str | None = None,
    operators: list[str] | None = None,
) -> ProvisionedClient:
    """Create a tenant and its Dialpad call center (with `operators`, CallTrax agent user ids, assigned and,
    with a Dialpad id, made operators), or leave nothing half-made."""
    require_admin(actor)
    gateway = require_gateway(deps)
    data = validate_input(
        name=name, timezone=timezone, slug=slug, business_hours=business_hours, office_id=office_id
    )
    agents = await _operators(deps, operators or [])
    office = data.office_id or deps.dialpad_office_id
    if office is None and not gateway.simulated:
        raise BadInput(
            "a Dialpad office id is needed", fields={"officeId": "required (or set DIALPAD_OFFICE_ID)"}
        )
    tenant_id = uuid.uuid4()
    # The lock is taken before the row exists, so no retry can slip in between reservation and steps.
    async with provisioning_store.provisioning_lock(deps.engine, tenant_id) as locked:
        assert locked, "a fresh uuid is never locked"
        async with deps.unit_of_work() as tx:
            tenant = await provisioning_store.reserve_tenant(
                tx.connection,
                tenant_id=tenant_id,
                name=data.name,
                slug=data.slug,
                timezone=data.timezone,
                settings=TenantSettings(business_hours=data.business_hours),
                dialpad_mode=mode_of(gateway).value,
                office_id=office,
            )
            if tenant is None:
                raise Conflict(f"the slug {data.slug!r} is taken", fields={"slug": "taken"})
            await tx.record(tenant_event(tenant))
        return await run_provisioning(deps, gateway, tenant, office_id=office, operators=agents)


async def _operators(deps: Deps, user_ids: list[str]) -> list[UserRow]:
    """The agents provisioning should assign; BAD_USER_INPUT naming each id that is not an agent."""
    errors: dict[str, str] = {}
    agents: list[UserRow] = []
    async with deps.reader() as connection:
        for index, user_id in enumerate(dict.fromkeys(user_ids)):
            user = await user_store.get_user(connection, user_id)
            if user is None or user.role is not Role.AGENT:
                errors[f"operators.{index}"] = "not an agent's user id"
            else:
                agents.append(user)
    if errors:
        raise BadInput("operators must be agents", fields=errors)
    return agents
