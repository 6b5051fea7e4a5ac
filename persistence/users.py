"""Users and agent assignments: who a token's subject is and which tenants it may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.roles import Principal, Role
from persistence.tables import AgentAssignment, User


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    name: str | None
    role: Role
    tenant_id: UUID | None
    active: bool
    # The agent's Dialpad user id, if they take calls in Dialpad (issue 15).
    dialpad_user_id: str | None = None


def _user(row: object) -> UserRow:
    return UserRow(
        id=row.id,  # type: ignore[attr-defined]
        email=row.email,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        active=row.active,  # type: ignore[attr-defined]
        dialpad_user_id=getattr(row, "dialpad_user_id", None),
    )


_PRINCIPALS = text(
    """
    SELECT u.id, u.email, u.role, u.tenant_id, u.active,
           coalesce(array_agg(a.tenant_id) FILTER (WHERE a.tenant_id IS NOT NULL), '{}') AS assigned
    FROM users u LEFT JOIN agent_assignments a ON a.user_id = u.id
    WHERE u.id = ANY(:user_ids)
    GROUP BY u.id
    """
)


def _principal(row: Any) -> Principal | None:
    if not row.active:
        return None
    role = Role(row.role)
    if role is Role.CLIENT:
        tenants = frozenset({row.tenant_id}) if row.tenant_id else frozenset()
    elif role is Role.AGENT:
        tenants = frozenset(row.assigned)
    else:
        tenants = frozenset()
    return Principal(user_id=row.id, email=row.email, role=role, tenant_ids=tenants)


async def load_principal(connection: AsyncConnection, user_id: str) -> Principal | None:
    """The active user `user_id` with the tenants its role lets it see, in one statement."""
    return (await load_principals(connection, [user_id])).get(user_id)


async def load_principals(
    connection: AsyncConnection, user_ids: Iterable[str]
) -> dict[str, Principal | None]:
    """`load_principal` for many users in one statement: None for each one missing or inactive."""
    wanted = sorted(set(user_ids))
    found: dict[str, Principal | None] = dict.fromkeys(wanted)
    if wanted:
        for row in await connection.execute(_PRINCIPALS, {"user_ids": wanted}):
            found[row.id] = _principal(row)
    return found


async def get_user(connection: AsyncConnection, user_id: str) -> UserRow | None:
    row = (await connection.execute(select(User).where(User.id == user_id))).first()
    return _user(row) if row else None


async def get_user_by_email(connection: AsyncConnection, email: str) -> UserRow | None:
    row = (await connection.execute(select(User).where(User.email == email))).first()
    return _user(row) if row else None


async def upsert_user(
    connection: AsyncConnection,
    *,
    user_id: str,
    email: str,
    name: str | None,
    role: Role,
    tenant_id: UUID | None,
    active: bool = True,
    dialpad_user_id: str | None = None,
    set_dialpad_user_id: bool = False,
) -> UserRow:
    """Create the user or update it in place (keyed by id); the Dialpad user id only when `set_dialpad_user_id`."""
    statement = insert(User).values(
        id=user_id,
        email=email,
        name=name,
        role=role.value,
        tenant_id=tenant_id,
        active=active,
        dialpad_user_id=dialpad_user_id,
    )
    changes = {
        "email": statement.excluded.email,
        "name": statement.excluded.name,
        "role": statement.excluded.role,
        "tenant_id": statement.excluded.tenant_id,
        "active": statement.excluded.active,
        "updated_at": text("now()"),
    }
    if set_dialpad_user_id:
        changes["dialpad_user_id"] = statement.excluded.dialpad_user_id
    upsert = statement.on_conflict_do_update(index_elements=[User.id], set_=changes).returning(User)
    return _user((await connection.execute(upsert)).one())


async def assign_agent(connection: AsyncConnection, *, user_id: str, tenant_id: UUID) -> None:
    await connection.execute(
        insert(AgentAssignment).values(user_id=user_id, tenant_id=tenant_id).on_conflict_do_nothing()
    )


async def unassign_agent(connection: AsyncConnection, *, user_id: str, tenant_id: UUID) -> bool:
    result = await connection.execute(
        delete(AgentAssignment).where(
            AgentAssignment.user_id == user_id, AgentAssignment.tenant_id == tenant_id
        )
    )
    return bool(getattr(result, "rowcount", 0))
