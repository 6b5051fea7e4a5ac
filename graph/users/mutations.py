"""Mutations on users: create or update, assign agents to tenants."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.enums import Role
from graph.ids import parse_optional_uuid, parse_uuid
from graph.users.types import User
from persistence.user_queries import tenant_ids_of
from persistence.users import UserRow
from services.agents import assign_agent, unassign_agent
from services.users import upsert_user


@strawberry.input
class UpsertUserInput:
    email: str
    role: Role
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The token `sub`; new users get one if absent."
    )
    name: str | None = None
    tenant_id: strawberry.ID | None = strawberry.field(
        default=None, description="A client's own tenant (required), or a tenant to assign an agent to."
    )
    active: bool = True
    dialpad_user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The agent's Dialpad user id: assignAgent adds them as an operator of the tenant's call center. Absent keeps it, \"\" clears it.",
    )


async def _user(info: Info, row: UserRow) -> User:
    async with info.context.deps.reader() as connection:
        tenants = await tenant_ids_of(connection, [row.id])
    return User.from_row(row, tenant_ids=tenants[row.id])


@strawberry.type
class UsersMutation:
    @strawberry.mutation(
        description="Create or update a user (admins), keyed by id when given, else by email."
    )
    async def upsert_user(self, info: Info, input: UpsertUserInput) -> User:
        row = await upsert_user(
            info.context.deps,
            actor=info.context.require_principal(),
            email=input.email,
            role=input.role,
            user_id=str(input.id) if input.id is not None else None,
            name=input.name,
            tenant_id=parse_optional_uuid(input.tenant_id, field="input.tenantId"),
            active=input.active,
            dialpad_user_id=str(input.dialpad_user_id) if input.dialpad_user_id is not None else None,
        )
        return await _user(info, row)

    @strawberry.mutation(description="Let an agent see and work a tenant (admins).")
    async def assign_agent(self, info: Info, user_id: strawberry.ID, tenant_id: strawberry.ID) -> User:
        row = await assign_agent(
            info.context.deps,
            actor=info.context.require_principal(),
            user_id=str(user_id),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return await _user(info, row)

    @strawberry.mutation(description="Take a tenant away from an agent (admins).")
    async def unassign_agent(self, info: Info, user_id: strawberry.ID, tenant_id: strawberry.ID) -> User:
        row = await unassign_agent(
            info.context.deps,
            actor=info.context.require_principal(),
            user_id=str(user_id),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return await _user(info, row)
