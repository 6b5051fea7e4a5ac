"""GraphQL types for users and roles."""

from __future__ import annotations

import strawberry

from domain.roles import Principal
from graph.enums import Role


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    tenant_ids: list[strawberry.ID]

    @classmethod
    def from_principal(cls, principal: Principal) -> User:
        return cls(
            id=strawberry.ID(principal.user_id),
            email=principal.email,
            role=principal.role,
            tenant_ids=[strawberry.ID(str(tenant_id)) for tenant_id in sorted(principal.tenant_ids, key=str)],
        )
