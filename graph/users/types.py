"""GraphQL types for users and roles."""

from __future__ import annotations

from uuid import UUID

import strawberry

from domain.roles import Principal
from graph.enums import Role
from persistence.users import UserRow


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    tenant_ids: list[strawberry.ID]
    dialpad_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="The Dialpad user id, when the user takes calls in Dialpad."
    )

    @classmethod
    def from_principal(cls, principal: Principal) -> User:
        return cls(
            id=strawberry.ID(principal.user_id),
            email=principal.email,
            role=principal.role,
            tenant_ids=[strawberry.ID(str(tenant_id)) for tenant_id in sorted(principal.tenant_ids, key=str)],
        )

    @classmethod
    def from_row(cls, row: UserRow, *, tenant_ids: list[UUID]) -> User:
        return cls(
            id=strawberry.ID(row.id),
            email=row.email,
            role=row.role,
            tenant_ids=[strawberry.ID(str(tenant_id)) for tenant_id in sorted(tenant_ids, key=str)],
            dialpad_user_id=strawberry.ID(row.dialpad_user_id) if row.dialpad_user_id else None,
        )
