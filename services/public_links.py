"""Admins, and agents for their tenants, create and revoke public dashboard links."""

from __future__ import annotations

from uuid import UUID

from domain.errors import Forbidden, NotFound
from domain.events import EventType, NewEvent
from domain.roles import Principal, can_manage_public_links, can_see_tenant
from persistence import public_links as link_store
from persistence import tenants as tenant_store
from persistence.public_links import PublicLinkRow
from services.deps import Deps


async def create_public_link(deps: Deps, *, actor: Principal, tenant_id: UUID) -> PublicLinkRow:
    """A new unguessable link to the tenant's public dashboard."""
    if not can_manage_public_links(actor, tenant_id):
        raise Forbidden(
            "you may not share this tenant's dashboard", fields={"tenantId": "not yours to share"}
        )
    async with deps.unit_of_work() as tx:
        if await tenant_store.get_tenant(tx.connection, tenant_id) is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        return await link_store.insert_link(tx.connection, tenant_id=tenant_id, created_by=actor.user_id)


async def revoke_public_link(deps: Deps, *, actor: Principal, link_id: UUID) -> PublicLinkRow:
    """Revoke a link: its page, query and open subscriptions stop at once (the event ends them)."""
    async with deps.unit_of_work() as tx:
        link = await link_store.get_link(tx.connection, link_id, lock=True)
        if link is None or not can_see_tenant(actor, link.tenant_id):
            raise NotFound("no such public link", fields={"id": "unknown"})
        if not can_manage_public_links(actor, link.tenant_id):
            raise Forbidden("you may not revoke this tenant's links", fields={"id": "not yours to revoke"})
        revoked = await link_store.revoke_link(tx.connection, link_id=link_id, at=deps.clock.now())
        if revoked is None:
            # Already revoked: nothing changes, nothing to announce.
            return link
        await tx.record(
            NewEvent(
                link.tenant_id,
                EventType.PUBLIC_LINK_REVOKED,
                {
                    "public_link": {
                        "id": str(link.id),
                        "revoked_at": revoked.revoked_at.isoformat() if revoked.revoked_at else None,
                    }
                },
            )
        )
    return revoked
