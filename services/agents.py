"""Admins assign agents to tenants and take them off again; an agent with a Dialpad user id is also made an
operator of the tenant's Dialpad call center (and removed), or nothing changes."""

from __future__ import annotations

import logging
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import BadInput, DialpadError, Forbidden, NotFound
from domain.ports import DialpadGateway
from domain.roles import Principal, Role, can_administer
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.tenants import TenantRow
from persistence.users import UserRow
from services.deps import Deps

log = logging.getLogger("calltrax.agents")


async def _check(
    connection: AsyncConnection, *, actor: Principal, user_id: str, tenant_id: UUID
) -> tuple[UserRow, TenantRow]:
    if not can_administer(actor):
        raise Forbidden("only admins assign agents")
    user = await user_store.get_user(connection, user_id)
    if user is None:
        raise NotFound("no such user", fields={"userId": "unknown"})
    if user.role is not Role.AGENT:
        raise BadInput(
            f"{user.email} is not an agent", fields={"userId": f"role is {user.role.value}, not agent"}
        )
    tenant = await tenant_store.get_tenant(connection, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant", fields={"tenantId": "unknown"})
    return user, tenant


def _operator(deps: Deps, user: UserRow, tenant: TenantRow) -> tuple[DialpadGateway, str, str] | None:
    """Gateway, call center and Dialpad user when the assignment has a Dialpad side; else None
    (an agent without a Dialpad id, a tenant without a call center: today's behaviour)."""
    if deps.dialpad is None or user.dialpad_user_id is None or tenant.dialpad_call_center_id is None:
        return None
    return deps.dialpad, tenant.dialpad_call_center_id, user.dialpad_user_id


async def assign_agent(deps: Deps, *, actor: Principal, user_id: str, tenant_id: UUID) -> UserRow:
    """Let the agent see and work the tenant's leads, and take its calls in Dialpad (idempotent).

    The Dialpad request runs inside the assignment's transaction: when Dialpad fails (after the
    client's retries) the assignment is rolled back and DIALPAD_ERROR raised; when the commit fails
    after Dialpad said yes, the operator is removed again."""
    operator = None
    try:
        async with deps.unit_of_work() as tx:
            user, tenant = await _check(tx.connection, actor=actor, user_id=user_id, tenant_id=tenant_id)
            await user_store.assign_agent(tx.connection, user_id=user.id, tenant_id=tenant_id)
            tx.access_changed.add(user.id)
            operator = _operator(deps, user, tenant)
            if operator is not None:
                gateway, call_center, dialpad_user = operator
                await gateway.add_operator(call_center, dialpad_user)
    except DialpadError:
        raise
    except Exception:
        if operator is not None:
            await _undo(operator, add=False)
        raise
    return user


async def unassign_agent(deps: Deps, *, actor: Principal, user_id: str, tenant_id: UUID) -> UserRow:
    """Take the tenant away from the agent and off its Dialpad call center (idempotent): its next
    request is refused, and its open subscriptions on the tenant end (every server process is told
    after the commit). A Dialpad failure leaves the assignment as it was (DIALPAD_ERROR)."""
    operator = None
    was_assigned = False
    try:
        async with deps.unit_of_work() as tx:
            user, tenant = await _check(tx.connection, actor=actor, user_id=user_id, tenant_id=tenant_id)
            was_assigned = await user_store.unassign_agent(
                tx.connection, user_id=user.id, tenant_id=tenant_id
            )
            # Open subscriptions of the agent on this tenant end once this has committed.
            tx.access_changed.add(user.id)
            operator = _operator(deps, user, tenant)
            if operator is not None:
                gateway, call_center, dialpad_user = operator
                await gateway.remove_operator(call_center, dialpad_user)
    except DialpadError:
        raise
    except Exception:
        if operator is not None and was_assigned:
            await _undo(operator, add=True)
        raise
    return user


async def _undo(operator: tuple[DialpadGateway, str, str], *, add: bool) -> None:
    """Put Dialpad back as it was after the database refused the change; logged if even that fails."""
    gateway, call_center, dialpad_user = operator
    try:
        if add:
            await gateway.add_operator(call_center, dialpad_user)
        else:
            await gateway.remove_operator(call_center, dialpad_user)
    except DialpadError as error:
        log.warning(
            "could not undo a Dialpad operator change",
            extra={"call_center": call_center, "dialpad_user": dialpad_user, "error": error.message},
        )
