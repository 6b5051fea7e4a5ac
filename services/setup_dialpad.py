"""`calltrax dialpad setup [--migrate]` and the `dialpadSetup` query: the company subscription checked and
repaired, tenants provisioned before it moved over (their per-tenant subscriptions deleted)."""

from __future__ import annotations

from dataclasses import replace

from domain.errors import BadInput, DialpadError
from domain.ports import DialpadGateway
from domain.provisioning import ProvisioningStep
from domain.roles import Principal
from persistence import dialpad_company as company_store
from services.deps import Deps
from services.dialpad_setup import DialpadSetup, answer, ensure_company_subscription
from services.provision_client import require_admin, require_gateway, update_tenant


async def migrate_tenants(deps: Deps, gateway: DialpadGateway) -> int:
    """Delete the per-tenant subscriptions and webhooks of tenants provisioned before the company
    subscription; returns how many tenants were moved. Each id is cleared as soon as Dialpad confirms
    (a 404 counts: already gone), so a failure halfway leaves every tenant either moved or untouched, and a
    rerun finishes the rest. The company subscription must exist first: calls are never uncovered.
    The tenant's secret is kept, so the per-tenant endpoint still verifies late redeliveries."""
    async with deps.reader() as connection:
        tenants = await company_store.tenants_with_own_subscription(connection)
    moved = 0
    for tenant in tenants:
        if tenant.dialpad_subscription_id is not None:
            await gateway.delete_call_subscription(tenant.dialpad_subscription_id)
            tenant = await update_tenant(deps, tenant.id, dialpad_subscription_id=None)
        if tenant.dialpad_webhook_id is not None:
            await gateway.delete_webhook(tenant.dialpad_webhook_id)
            tenant = await update_tenant(deps, tenant.id, dialpad_webhook_id=None)
        moved += 1
    return moved


async def setup_dialpad(deps: Deps, *, actor: Principal | None, migrate: bool = False) -> DialpadSetup:
    """`calltrax dialpad setup [--migrate]`: check and repair the company subscription; then, with
    `migrate`, move the tenants that still have their own."""
    require_admin(actor)
    gateway = require_gateway(deps)
    setup = await ensure_company_subscription(deps, gateway, check=True)
    if not migrate:
        return setup
    try:
        moved = await migrate_tenants(deps, gateway)
    except DialpadError as error:
        error.step = error.step or ProvisioningStep.SUBSCRIPTION
        raise
    actions = [*setup.actions, f"moved {moved} tenant(s) to the company subscription"]
    return replace(setup, actions=actions, migrated_tenants=moved)


async def dialpad_setup_status(deps: Deps, *, actor: Principal) -> DialpadSetup:
    """What admins see (`dialpadSetup`): the endpoint URL and the secret Dialpad signs with, as stored."""
    require_admin(actor)
    async with deps.reader() as connection:
        company = await company_store.get_company(connection)
    return answer(deps, company, [])


MAX_INBOX_PAGE = 500


async def list_dialpad_inbox(
    deps: Deps, *, actor: Principal, waiting_only: bool, limit: int
) -> list[company_store.InboxRow]:
    """Company events not routed to a tenant, newest first, with why (`dialpadInbox`, admins)."""
    require_admin(actor)
    if not 1 <= limit <= MAX_INBOX_PAGE:
        raise BadInput(f"first must be 1-{MAX_INBOX_PAGE}", fields={"first": f"1-{MAX_INBOX_PAGE}"})
    async with deps.reader() as connection:
        return await company_store.list_inbox(connection, waiting_only=waiting_only, limit=limit)
