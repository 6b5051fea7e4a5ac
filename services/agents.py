"""Admins assign agents to tenants and take them off again."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import BadInput, Forbidden, NotFound
from domain.roles import Principal, Role, can_administer
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.users import UserRow
from services.deps import Deps


async def _check(connection: AsyncConnection, *, actor: Principal, user_id: str, tenant_id: UUID) -> UserRow:
    if not can_administer(actor):
        raise Forbidden("only admins assign agents")
    user = await user_store.get_user(connection, user_id)
    if user is None:
        raise NotFound("no such user", fields={"userId": "unknown"})
    if user.role is not Role.AGENT:
        raise BadInput(
            f"{user.email} is not an agent", fields={"userId": f"role is {user.role.value}, not agent"}
        )
    if await tenant_store.get_tenant(connection, tenant_id) is None:
        raise NotFound("no such tenant", fields={"tenantId": "unknown"})
    return user


async def assign_agent(deps: Deps, *, actor: Principal, user_id: str, tenant_id: UUID) -> UserRow:
    """Let the agent see and work the tenant's leads (idempotent)."""
    async with deps.unit_of_work() as tx:
        user = await _check(tx.connection, actor=actor, user_id=user_id, tenant_id=tenant_id)
        await user_store.assign_agent(tx.connection, user_id=user.id, tenant_id=tenant_id)
        tx.access_changed.add(user.id)
    return user


async def unassign_agent(deps: Deps, *, actor: Principal, user_id: str, tenant_id: UUID) -> UserRow:
    """Take the tenant away from the agent (idempotent): its next request is refused, and its open
    subscriptions on the tenant end (every server process is told after the commit)."""
    async with deps.unit_of_work() as tx:
        user = await _check(tx.connection, actor=actor, user_id=user_id, tenant_id=tenant_id)
        await user_store.unassign_agent(tx.connection, user_id=user.id, tenant_id=tenant_id)
        # Open subscriptions of the agent on this tenant end once this has committed.
        tx.access_changed.add(user.id)
    return user
