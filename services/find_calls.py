"""List the calls a caller may see: filtered, newest first (by start), one keyset page at a time."""

from __future__ import annotations

from uuid import UUID

from domain.calls import agent_id_problem
from domain.errors import BadInput
from domain.roles import Principal
from persistence import call_queries
from persistence.call_queries import CallFilter
from persistence.keyset import PageKey
from persistence.rows import CallRow
from services.deps import Deps
from services.tenant_scope import Page, tenant_scope


async def call_selection(
    deps: Deps, *, actor: Principal, tenant_id: UUID | None, where: CallFilter
) -> frozenset[UUID] | None:
    """The tenants a call list reads (the GraphQL list and the CSV export share it); raises
    BAD_USER_INPUT for a bad filter and FORBIDDEN/NOT_FOUND for a tenant out of reach."""
    check_call_filter(where)
    return await tenant_scope(deps, actor=actor, tenant_id=tenant_id)


def check_call_filter(where: CallFilter) -> None:
    """BAD_USER_INPUT for a filter no list may use (an empty or reversed range)."""
    if where.started_from and where.started_to and where.started_from >= where.started_to:
        raise BadInput(
            "startedFrom must be before startedTo", fields={"filter.startedTo": "not after startedFrom"}
        )
    problem = agent_id_problem(where.agent_id) if where.agent_id is not None else None
    if problem:
        raise BadInput(f"agentId: {problem}", fields={"filter.agentId": problem})


async def find_calls(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID | None,
    where: CallFilter,
    first: int,
    after: PageKey | None = None,
) -> Page[CallRow]:
    """A page of calls newest first; tenant None = every tenant the actor may see."""
    scope = await call_selection(deps, actor=actor, tenant_id=tenant_id, where=where)
    async with deps.reader() as connection:
        rows, has_next = await call_queries.page_calls(
            connection, tenant_ids=scope, where=where, first=first, after=after
        )

    async def count() -> int:
        async with deps.reader() as connection:
            return await call_queries.count_calls(connection, tenant_ids=scope, where=where)

    return Page(rows=rows, has_next=has_next, count=count)
