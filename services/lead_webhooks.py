"""Admins rotate a tenant's lead webhook URLs and switch single webhooks on or off."""

from __future__ import annotations

from uuid import UUID

from domain.errors import Forbidden, NotFound
from domain.roles import Principal, can_administer
from persistence import lead_webhooks as webhook_store
from persistence import tenants as tenant_store
from persistence.tenants import LeadWebhookRow
from services.deps import Deps


def _require_admin(actor: Principal) -> None:
    if not can_administer(actor):
        raise Forbidden("only admins manage lead webhooks")


async def rotate_lead_webhook(deps: Deps, *, actor: Principal, tenant_id: UUID) -> list[LeadWebhookRow]:
    """New secret URLs for all the tenant's lead webhooks (one is created if it has none); old URLs stop at once."""
    _require_admin(actor)
    async with deps.unit_of_work() as tx:
        if await tenant_store.get_tenant(tx.connection, tenant_id) is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        rotated = await webhook_store.rotate_tokens(tx.connection, tenant_id=tenant_id, at=deps.clock.now())
        if not rotated:
            rotated = [await tenant_store.create_lead_webhook(tx.connection, tenant_id=tenant_id)]
    return rotated


async def set_lead_webhook_active(
    deps: Deps, *, actor: Principal, webhook_id: UUID, active: bool
) -> LeadWebhookRow:
    """Switch one lead webhook on or off; an inactive URL answers as if unknown."""
    _require_admin(actor)
    async with deps.unit_of_work() as tx:
        row = await webhook_store.set_active(tx.connection, webhook_id=webhook_id, active=active)
    if row is None:
        raise NotFound("no such lead webhook", fields={"id": "unknown"})
    return row
