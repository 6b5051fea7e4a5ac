"""Change a tenant's settings (admins): SLA, business hours, stage bounds, bookings, phone region."""

from __future__ import annotations

from uuid import UUID

from domain.errors import BadInput, Forbidden, NotFound
from domain.events import EventType, NewEvent
from domain.roles import Principal, can_administer
from domain.settings_rules import SettingsChange, apply_change
from persistence import tenants as tenant_store
from persistence.snapshots import jsonable
from persistence.tenants import TenantRow
from services.deps import Deps


async def update_tenant_settings(
    deps: Deps, *, actor: Principal, tenant_id: UUID, change: SettingsChange
) -> TenantRow:
    """Validate every changed field (BAD_USER_INPUT names each bad one), then save them together."""
    if not can_administer(actor):
        raise Forbidden("only admins change tenant settings")
    async with deps.unit_of_work() as tx:
        tenant = await tenant_store.get_tenant(tx.connection, tenant_id, for_update=True)
        if tenant is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        settings, problems = apply_change(tenant.settings, change)
        if problems:
            fields = {f"input.{name}": problem for name, problem in problems.items()}
            raise BadInput(
                "invalid settings: " + "; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields
            )
        if settings == tenant.settings:
            return tenant
        updated = await tenant_store.update_tenant(tx.connection, tenant_id, settings=settings)
        assert updated is not None
        await tx.record(
            NewEvent(
                tenant_id,
                EventType.TENANT_UPDATED,
                {
                    "tenant": {"id": str(tenant_id), "settings": jsonable(settings.to_json())},
                    "changes": ["settings"],
                },
            )
        )
    return updated
