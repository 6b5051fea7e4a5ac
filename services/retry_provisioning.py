"""Retry a failed or interrupted provisioning from its stored progress (never a second call center)."""

from __future__ import annotations

from uuid import UUID

from domain.errors import Conflict, NotFound
from domain.roles import Principal
from domain.tenants import TenantStatus
from persistence import provisioning as provisioning_store
from persistence import tenants as tenant_store
from services.deps import Deps
from services.provision_client import (
    ProvisionedClient,
    describe,
    mode_of,
    require_admin,
    require_gateway,
    run_provisioning,
    update_tenant,
)


async def retry_provisioning(deps: Deps, *, actor: Principal | None, tenant_id: UUID) -> ProvisionedClient:
    """Resume a failed tenant's provisioning; an active tenant is answered as it is."""
    require_admin(actor)
    gateway = require_gateway(deps)
    async with provisioning_store.provisioning_lock(deps.engine, tenant_id) as locked:
        async with deps.reader() as connection:
            tenant = await tenant_store.get_tenant(connection, tenant_id)
            office_id = await provisioning_store.dialpad_office_id(connection, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        if not locked:
            raise Conflict("this tenant is being provisioned or deprovisioned right now")
        if tenant.status is TenantStatus.ACTIVE:
            return await describe(deps, tenant)
        if tenant.status is TenantStatus.SUSPENDED:
            raise Conflict("this tenant was deprovisioned", fields={"tenantId": "suspended"})
        # FAILED, or PROVISIONING with a free lock: the process that was provisioning it is gone.
        mode = mode_of(gateway)
        stored = (tenant.dialpad_call_center_id, tenant.dialpad_webhook_id, tenant.dialpad_subscription_id)
        if tenant.dialpad_mode not in (None, mode.value) and any(stored):
            raise Conflict(
                f"this tenant has {tenant.dialpad_mode} Dialpad resources but Dialpad is now {mode.value}; "
                "deprovision it first",
                fields={"tenantId": "dialpad mode changed"},
            )
        tenant = await update_tenant(
            deps, tenant.id, status=TenantStatus.PROVISIONING, status_reason=None, dialpad_mode=mode.value
        )
        return await run_provisioning(deps, gateway, tenant, office_id=office_id or deps.dialpad_office_id)
