"""Creating and updating users and agent assignments."""

from __future__ import annotations

import uuid
from uuid import UUID

from domain.emails import is_email
from domain.errors import BadInput, Forbidden, NotFound
from domain.roles import MAX_USER_ID_LENGTH, Principal, Role, can_administer
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.users import UserRow
from services.deps import Deps

# RFC 5321's longest address; ids are the identity provider's subjects (checked on every token too).
MAX_NAME_LENGTH = 200


def _require_admin(actor: Principal | None) -> None:
    # None is the trusted CLI acting on the operator's behalf.
    if actor is not None and not can_administer(actor):
        raise Forbidden("only admins manage users")


async def upsert_user(
    deps: Deps,
    *,
    actor: Principal | None,
    email: str,
    role: Role,
    user_id: str | None = None,
    name: str | None = None,
    tenant_id: UUID | None = None,
    tenant_slug: str | None = None,
    active: bool = True,
    dialpad_user_id: str | None = None,
) -> UserRow:
    """Create or update a user, keyed by id when given, else by email. `dialpad_user_id`: None keeps it,
    "" clears it, digits set it (assignAgent then makes the agent an operator in Dialpad)."""
    _require_admin(actor)
    if dialpad_user_id is not None:
        dialpad_user_id = dialpad_user_id.strip()
        if dialpad_user_id and not (dialpad_user_id.isdigit() and len(dialpad_user_id) <= 30):
            raise BadInput("not a Dialpad user id", fields={"dialpadUserId": "digits (Dialpad's user id)"})
    email = email.strip().lower()
    if not is_email(email):
        raise BadInput(f"{email[:100]!r} is not an email address", fields={"email": "not an email address"})
    # Both are indexed (btree rows hold ~2.7 KB): a longer value would fail in SQL, as a 500.
    if user_id is not None and not 0 < len(user_id) <= MAX_USER_ID_LENGTH:
        raise BadInput("the id is too long", fields={"id": f"1 to {MAX_USER_ID_LENGTH} characters"})
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise BadInput("the name is too long", fields={"name": f"at most {MAX_NAME_LENGTH} characters"})
    async with deps.unit_of_work() as tx:
        if tenant_slug is not None:
            tenant = await tenant_store.get_tenant_by_slug(tx.connection, tenant_slug)
            if tenant is None:
                raise NotFound(f"no tenant with slug {tenant_slug!r}", fields={"tenant": "unknown"})
            tenant_id = tenant.id
        elif tenant_id is not None and await tenant_store.get_tenant(tx.connection, tenant_id) is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        if role is Role.CLIENT and tenant_id is None:
            raise BadInput("a client user needs a tenant", fields={"tenantId": "required for role client"})
        existing = await user_store.get_user_by_email(tx.connection, email)
        if user_id is None:
            user_id = existing.id if existing else str(uuid.uuid4())
        elif existing is not None and existing.id != user_id:
            raise BadInput(f"{email} belongs to another user", fields={"email": "already used"})
        user = await user_store.upsert_user(
            tx.connection,
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            tenant_id=tenant_id if role is Role.CLIENT else None,
            active=active,
            dialpad_user_id=dialpad_user_id or None,
            set_dialpad_user_id=dialpad_user_id is not None,
        )
        if role is Role.AGENT and tenant_id is not None:
            await user_store.assign_agent(tx.connection, user_id=user.id, tenant_id=tenant_id)
        # Role, tenant or active may have changed: open subscriptions re-read the user after the commit.
        tx.access_changed.add(user.id)
    return user
