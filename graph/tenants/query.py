"""Queries about tenants."""

from __future__ import annotations

import strawberry

from domain.errors import BadInput
from graph.context import Info
from graph.ids import parse_optional_uuid
from graph.tenants.types import Tenant
from services.tenant_scope import list_visible_tenants, visible_tenant


@strawberry.type
class TenantsQuery:
    @strawberry.field(
        description="Tenants you may see (admins all, agents assigned, clients their own), by name."
    )
    async def tenants(self, info: Info) -> list[Tenant]:
        rows = await list_visible_tenants(info.context.deps, actor=info.context.require_principal())
        return [Tenant.from_row(row) for row in rows]

    @strawberry.field(description="One tenant by id or slug (exactly one of them).")
    async def tenant(self, info: Info, id: strawberry.ID | None = None, slug: str | None = None) -> Tenant:
        actor = info.context.require_principal()
        if (id is None) == (slug is None):
            raise BadInput(
                "give exactly one of id and slug", fields={"id": "give id or slug", "slug": "give id or slug"}
            )
        row = await visible_tenant(
            info.context.deps, actor=actor, tenant_id=parse_optional_uuid(id, field="id"), slug=slug
        )
        return Tenant.from_row(row)
