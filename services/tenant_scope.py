"""Which tenants a read may cover: the caller's visible tenants, narrowed to one when it names one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from domain.errors import Forbidden, NotFound
from domain.roles import Principal, can_see_tenant, visible_tenant_ids
from persistence import tenants as tenant_store
from persistence.tenants import TenantRow
from services.deps import Deps

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Page(Generic[RowT]):
    """One page of a list, newest first; `count` counts every match (run only when asked for)."""

    rows: list[RowT]
    has_next: bool
    count: Callable[[], Awaitable[int]]


async def tenant_scope(deps: Deps, *, actor: Principal, tenant_id: UUID | None) -> frozenset[UUID] | None:
    """The tenants a list may read (None = all): FORBIDDEN for a tenant the actor may not see."""
    if tenant_id is None:
        return visible_tenant_ids(actor)
    if not can_see_tenant(actor, tenant_id):
        # Said before looking the tenant up, so the answer does not reveal whether it exists.
        raise Forbidden("you may not see this tenant", fields={"tenantId": "not visible to you"})
    if actor.is_admin:
        async with deps.reader() as connection:
            if await tenant_store.get_tenant(connection, tenant_id) is None:
                raise NotFound("no such tenant", fields={"tenantId": "unknown"})
    return frozenset({tenant_id})


async def visible_tenant(
    deps: Deps, *, actor: Principal, tenant_id: UUID | None = None, slug: str | None = None
) -> TenantRow:
    """One tenant by id or slug: FORBIDDEN when the actor may not see it (whether or not it exists)."""
    if tenant_id is not None and not can_see_tenant(actor, tenant_id):
        raise Forbidden("you may not see this tenant", fields={"id": "not visible to you"})
    async with deps.reader() as connection:
        if tenant_id is not None:
            tenant = await tenant_store.get_tenant(connection, tenant_id)
        else:
            tenant = await tenant_store.get_tenant_by_slug(connection, slug or "")
    if tenant is not None and can_see_tenant(actor, tenant.id):
        return tenant
    if not actor.is_admin:
        raise Forbidden(
            "you may not see this tenant", fields={"slug" if slug is not None else "id": "not visible to you"}
        )
    raise NotFound("no such tenant", fields={"slug" if slug is not None else "id": "unknown"})


async def list_visible_tenants(deps: Deps, *, actor: Principal) -> list[TenantRow]:
    """Every tenant the actor may see, by name."""
    scope = visible_tenant_ids(actor)
    if scope is not None and not scope:
        return []
    async with deps.reader() as connection:
        return await tenant_store.list_tenants(connection, scope)
