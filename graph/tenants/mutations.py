"""Mutations on tenants' lead webhooks."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.tenants.types import LeadWebhook
from services.lead_webhooks import rotate_lead_webhook, set_lead_webhook_active


@strawberry.type
class TenantsMutation:
    @strawberry.mutation(
        description="New secret URLs for the tenant's lead webhooks (admins); the old ones stop at once."
    )
    async def rotate_lead_webhook(self, info: Info, tenant_id: strawberry.ID) -> list[LeadWebhook]:
        rows = await rotate_lead_webhook(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        base_url = info.context.deps.public_base_url
        return [LeadWebhook.from_row(row, base_url=base_url) for row in rows]

    @strawberry.mutation(description="Switch a lead webhook on or off (admins).")
    async def set_lead_webhook_active(self, info: Info, id: strawberry.ID, active: bool) -> LeadWebhook:
        row = await set_lead_webhook_active(
            info.context.deps,
            actor=info.context.require_principal(),
            webhook_id=parse_uuid(id, field="id"),
            active=active,
        )
        return LeadWebhook.from_row(row, base_url=info.context.deps.public_base_url)
