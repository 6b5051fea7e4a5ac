"""List the leads a caller may see: filtered, newest first, one keyset page at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.calls import agent_id_problem
from domain.errors import BadInput
from domain.leads import OPEN_STATUSES, PipelineStage, StageBounds, stage_age_range
from domain.roles import Principal
from persistence import lead_queries
from persistence import tenants as tenant_store
from persistence.keyset import PageKey
from persistence.lead_queries import CreatedWindow, LeadFilter
from persistence.rows import LeadRow
from services.deps import Deps
from services.tenant_scope import Page, tenant_scope

MAX_SEARCH = 200


def check_lead_filter(where: LeadFilter) -> None:
    """BAD_USER_INPUT for a filter no list may use (an empty or reversed range, a search too long)."""
    if where.created_from and where.created_to and where.created_from >= where.created_to:
        raise BadInput(
            "createdFrom must be before createdTo", fields={"filter.createdTo": "not after createdFrom"}
        )
    if where.search is not None and len(where.search) > MAX_SEARCH:
        raise BadInput("search text too long", fields={"filter.search": f"at most {MAX_SEARCH} characters"})
    problem = agent_id_problem(where.attempted_by) if where.attempted_by is not None else None
    if problem:
        raise BadInput(f"attemptedBy: {problem}", fields={"filter.attemptedBy": problem})


async def _stage_windows(
    deps: Deps, scope: frozenset[UUID] | None, stages: tuple[PipelineStage, ...]
) -> tuple[CreatedWindow, ...]:
    """The stage filter as created_at windows per tenant (each tenant has its own stage bounds)."""
    now = deps.clock.now()
    async with deps.reader() as connection:
        tenants = await tenant_store.list_tenants(connection, scope)
    return tuple(
        stage_window(tenant.id, stage, now, tenant.settings.stage_bounds)
        for tenant in tenants
        for stage in stages
    )


def stage_window(tenant_id: UUID, stage: PipelineStage, now: datetime, bounds: StageBounds) -> CreatedWindow:
    """The created_at window, at `now`, of a tenant's open leads in `stage` (its ages turned into times)."""
    low, high = stage_age_range(stage, bounds)
    return CreatedWindow(
        tenant_id=tenant_id,
        after=now - timedelta(seconds=high) if high is not None else None,
        until=now - timedelta(seconds=low) if low else None,
    )


async def lead_selection(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID | None,
    where: LeadFilter,
    stages: tuple[PipelineStage, ...] = (),
) -> tuple[frozenset[UUID] | None, LeadFilter]:
    """The tenants and filter a lead list reads (the GraphQL list and the CSV export share it);
    raises BAD_USER_INPUT for a bad filter and FORBIDDEN/NOT_FOUND for a tenant out of reach."""
    check_lead_filter(where)
    scope = await tenant_scope(deps, actor=actor, tenant_id=tenant_id)
    if stages:
        # Staged leads are open ones; an explicit status filter narrows further.
        open_statuses = tuple(
            status for status in (where.statuses or tuple(OPEN_STATUSES)) if status in OPEN_STATUSES
        )
        windows = await _stage_windows(deps, scope, stages) if open_statuses else ()
        where = replace(where, statuses=tuple(sorted(open_statuses)), created_windows=windows)
    return scope, where


async def find_leads(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID | None,
    where: LeadFilter,
    stages: tuple[PipelineStage, ...] = (),
    first: int,
    after: PageKey | None = None,
) -> Page[LeadRow]:
    """A page of leads newest first; tenant None = every tenant the actor may see."""
    scope, where = await lead_selection(deps, actor=actor, tenant_id=tenant_id, where=where, stages=stages)
    async with deps.reader() as connection:
        rows, has_next = await lead_queries.page_leads(
            connection, tenant_ids=scope, where=where, first=first, after=after
        )

    async def count() -> int:
        async with deps.reader() as connection:
            return await lead_queries.count_leads(connection, tenant_ids=scope, where=where)

    return Page(rows=rows, has_next=has_next, count=count)
