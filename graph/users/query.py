"""Queries about users."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.users.types import User


@strawberry.type
class UsersQuery:
    @strawberry.field(description="The signed-in user, with the role and tenants the users table gives it.")
    def me(self, info: Info) -> User:
        return User.from_principal(info.context.require_principal())
