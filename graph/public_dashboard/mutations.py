"""`createPublicLink(tenantId)` and `revokePublicLink(id)`: admins, and agents for their tenants."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.public_dashboard.types import PublicLink
from services.public_links import create_public_link, revoke_public_link


@strawberry.type
class PublicDashboardMutation:
    @strawberry.mutation(description="A new unguessable no-login link to the tenant's dashboard.")
    async def create_public_link(self, info: Info, tenant_id: strawberry.ID) -> PublicLink:
        row = await create_public_link(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return PublicLink.from_row(row, base_url=info.context.deps.public_base_url)

    @strawberry.mutation(description="Revoke a public link: its page, query and subscriptions stop at once.")
    async def revoke_public_link(self, info: Info, id: strawberry.ID) -> PublicLink:
        row = await revoke_public_link(
            info.context.deps, actor=info.context.require_principal(), link_id=parse_uuid(id, field="id")
        )
        return PublicLink.from_row(row, base_url=info.context.deps.public_base_url)
