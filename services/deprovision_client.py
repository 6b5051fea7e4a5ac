"""Deprovision a client: delete its Dialpad resources and suspend the tenant, keeping its data."""

from __future__ import annotations

from uuid import UUID

from domain.errors import Conflict, DialpadError, NotFound
from domain.roles import Principal
from domain.tenants import DialpadMode, TenantStatus
from persistence import provisioning as provisioning_store
from persistence import tenants as tenant_store
from persistence.tenants import TenantRow
from services.deps import Deps
from services.provision_client import (
    mode_of,
    require_admin,
    require_gateway,
    tenant_event,
    undo,
    update_tenant,
)


async def deprovision_client(deps: Deps, *, actor: Principal | None, tenant_id: UUID) -> TenantRow:
    """Delete the tenant's call subscription, webhook and call center, then suspend it (calling again
    after a Dialpad failure finishes the job)."""
    require_admin(actor)
    gateway = require_gateway(deps)
    async with provisioning_store.provisioning_lock(deps.engine, tenant_id) as locked:
        async with deps.reader() as connection:
            tenant = await tenant_store.get_tenant(connection, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        if not locked:
            raise Conflict("this tenant is being provisioned or deprovisioned right now")
        stored = (tenant.dialpad_call_center_id, tenant.dialpad_webhook_id, tenant.dialpad_subscription_id)
        if tenant.status is TenantStatus.SUSPENDED and not any(stored):
            return tenant
        if tenant.dialpad_mode == DialpadMode.SIMULATED.value and not gateway.simulated:
            # Simulated ids never existed in the real Dialpad: nothing to delete there.
            tenant = await update_tenant(
                deps,
                tenant.id,
                dialpad_call_center_id=None,
                dialpad_webhook_id=None,
                dialpad_subscription_id=None,
                dialpad_webhook_secret=None,
            )
        elif tenant.dialpad_mode == DialpadMode.LIVE.value and gateway.simulated and any(stored):
            raise Conflict(
                "this tenant's Dialpad resources are live; set DIALPAD_API_KEY to delete them",
                fields={"tenantId": "live Dialpad resources"},
            )
        tenant, left = await undo(deps, gateway, tenant)
        if left:
            first = left[0]
            raise DialpadError(
                f"{first.message}; the remaining Dialpad resources stay recorded, call deprovisionClient again",
                status=first.status,
                step=first.step,
            )
        async with deps.unit_of_work() as tx:
            # Keep the data, stop the intake: a suspended client's lead URLs answer as unknown.
            await provisioning_store.set_lead_webhooks_active(
                tx.connection, tenant_id=tenant.id, active=False
            )
            suspended = await tenant_store.update_tenant(
                tx.connection,
                tenant.id,
                status=TenantStatus.SUSPENDED,
                status_reason="deprovisioned",
                dialpad_webhook_secret=None,
                dialpad_mode=tenant.dialpad_mode or mode_of(gateway).value,
            )
            assert suspended is not None
            await tx.record(tenant_event(suspended))
        return suspended
