"""Following tenants' event histories live: who may watch which tenants, from which cursor, and for
how long (every event is let through by the caller's current access, not the one it started with)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID

from domain.errors import BadInput, Forbidden
from domain.events import PublishedEvent
from domain.ports import EventSubscriber, LiveAccess
from domain.roles import Principal, can_see_tenant, visible_tenant_ids

REVOKED = "your access to these events was revoked"


def _may_watch(principal: Principal | None, scope: frozenset[UUID] | None) -> bool:
    """A subscription over `scope` (None: every tenant) may go on only while all of it stays visible."""
    if principal is None:
        return False
    if scope is None:
        return visible_tenant_ids(principal) is None
    return all(can_see_tenant(principal, tenant_id) for tenant_id in scope)


class AccessGuard:
    """Implements `SubscriptionGuard` on a caller's `LiveAccess`: an in-memory check per event (no
    database round trip), waiting only while an announced change is being read."""

    def __init__(self, access: LiveAccess, scope: frozenset[UUID] | None) -> None:
        self._access = access
        self._scope = scope

    def allows(self, tenant_id: UUID) -> bool:
        principal = self._access.principal
        return self._access.settled and principal is not None and can_see_tenant(principal, tenant_id)

    async def check(self, tenant_id: UUID | None) -> None:
        principal = await self._access.settle()
        if not _may_watch(principal, self._scope):
            raise Forbidden(REVOKED)
        if tenant_id is not None and not (principal is not None and can_see_tenant(principal, tenant_id)):
            raise Forbidden(REVOKED)

    def on_change(self, wake: Callable[[], None]) -> Callable[[], None]:
        return self._access.on_change(wake)


async def watch_events(
    *, subscriber: EventSubscriber, access: LiveAccess, tenant_id: UUID | None, after: int | None
) -> AsyncIterator[PublishedEvent]:
    """The events of `tenant_id` (None: every tenant the caller may see), after cursor `after`.

    Authorised on the caller as the database has it now (not as the connection found it), and ended
    with FORBIDDEN as soon as the caller may no longer see every tenant it follows."""
    if after is not None and after < 0:
        raise BadInput("after must be a cursor (a seq, 0 or more)", fields={"after": "negative"})
    if tenant_id is None and after is not None:
        raise BadInput(
            "after is one tenant's cursor: give tenantId with it",
            fields={"after": "needs tenantId"},
        )
    principal = await access.reload()
    if principal is None:
        raise Forbidden(REVOKED)
    if tenant_id is None:
        scope = visible_tenant_ids(principal)
        return subscriber.subscribe(scope, None, AccessGuard(access, scope))
    if not can_see_tenant(principal, tenant_id):
        raise Forbidden("you may not watch this tenant")
    scope = frozenset({tenant_id})
    return subscriber.subscribe(
        scope, None if after is None else {tenant_id: after}, AccessGuard(access, scope)
    )
