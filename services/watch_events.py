"""Following tenants' event histories live: who may watch which tenants, from which cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from domain.errors import BadInput, Forbidden
from domain.events import PublishedEvent
from domain.ports import EventSubscriber
from domain.roles import Principal, can_see_tenant, visible_tenant_ids


def watch_events(
    *, subscriber: EventSubscriber, principal: Principal, tenant_id: UUID | None, after: int | None
) -> AsyncIterator[PublishedEvent]:
    """The events of `tenant_id` (None: every tenant the caller may see), after cursor `after`."""
    if after is not None and after < 0:
        raise BadInput("after must be a cursor (a seq, 0 or more)", fields={"after": "negative"})
    if tenant_id is None:
        if after is not None:
            raise BadInput(
                "after is one tenant's cursor: give tenantId with it",
                fields={"after": "needs tenantId"},
            )
        return subscriber.subscribe(visible_tenant_ids(principal), None)
    if not can_see_tenant(principal, tenant_id):
        raise Forbidden("you may not watch this tenant")
    return subscriber.subscribe(frozenset({tenant_id}), None if after is None else {tenant_id: after})
