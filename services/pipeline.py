"""The follow-up board of one tenant: its four columns with their age bounds, counts and pages of leads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import DomainError, Forbidden, NotFound
from domain.leads import OPEN_STATUSES, STAGE_TITLES, PipelineStage, StageBounds, stage_age_range
from domain.roles import Principal, can_see_tenant
from persistence import lead_queries
from persistence import pipeline_counts as counts_store
from persistence import tenants as tenant_store
from persistence.keyset import PageKey
from persistence.lead_queries import LeadFilter
from persistence.rows import LeadRow
from services.deps import Deps
from services.find_leads import stage_window
from services.tenant_scope import Page


@dataclass(frozen=True)
class PipelineColumn:
    stage: PipelineStage
    title: str
    count: int
    # Ages in seconds [min, max); max None for the last column.
    min_age_seconds: int
    max_age_seconds: int | None


@dataclass(frozen=True)
class PipelineBoard:
    tenant_id: UUID
    # The instant the columns were cut at.
    now: datetime
    columns: tuple[PipelineColumn, ...]


async def pipeline_board(deps: Deps, *, actor: Principal, tenant_id: UUID) -> PipelineBoard:
    """Open leads per column now, with the tenant's stage bounds (two short reads)."""
    if not can_see_tenant(actor, tenant_id):
        raise Forbidden("you may not see this tenant", fields={"tenantId": "not visible to you"})
    async with deps.reader() as connection:
        tenant = await tenant_store.get_tenant(connection, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        bounds = tenant.settings.stage_bounds
        now = deps.clock.now()
        counts = await counts_store.pipeline_counts(connection, tenant_id=tenant_id, now=now, bounds=bounds)
    return PipelineBoard(
        tenant_id=tenant_id,
        now=now,
        columns=tuple(
            PipelineColumn(
                stage=stage,
                title=STAGE_TITLES[stage],
                count=counts[stage],
                min_age_seconds=stage_age_range(stage, bounds)[0],
                max_age_seconds=stage_age_range(stage, bounds)[1],
            )
            for stage in PipelineStage
        ),
    )


@dataclass(frozen=True)
class ColumnPageKey:
    """A page of one board column, as of the board's `now` (so pages agree with its counts)."""

    tenant_id: UUID
    stage: PipelineStage
    now: datetime
    first: int
    after: PageKey | None = None


def _column_filter(tenant_id: UUID, stage: PipelineStage, now: datetime, bounds: StageBounds) -> LeadFilter:
    """The leads list's filter for a column: open leads in the stage's created_at window."""
    window = stage_window(tenant_id, stage, now, bounds)
    return LeadFilter(statuses=tuple(sorted(OPEN_STATUSES)), created_windows=(window,))


async def pipeline_pages(
    deps: Deps, *, actor: Principal, keys: Sequence[ColumnPageKey]
) -> list[Page[LeadRow] | DomainError]:
    """Pages of board columns, newest first, on one connection: the tenants, then one page statement
    per column (the leads list's own query, so a column and `leads(filter: {stage})` agree)."""
    answers: list[Page[LeadRow] | DomainError] = []
    async with deps.reader() as connection:
        tenants = await tenant_store.get_tenants(connection, list({key.tenant_id for key in keys}))
        for key in keys:
            tenant = tenants.get(key.tenant_id)
            if not can_see_tenant(actor, key.tenant_id):
                answers.append(
                    Forbidden("you may not see this tenant", fields={"tenantId": "not visible to you"})
                )
                continue
            if tenant is None:
                answers.append(NotFound("no such tenant", fields={"tenantId": "unknown"}))
                continue
            where = _column_filter(tenant.id, key.stage, key.now, tenant.settings.stage_bounds)
            scope = frozenset({tenant.id})
            rows, has_next = await lead_queries.page_leads(
                connection, tenant_ids=scope, where=where, first=key.first, after=key.after
            )
            answers.append(Page(rows=rows, has_next=has_next, count=_counter(deps, scope, where)))
    return answers


def _counter(deps: Deps, scope: frozenset[UUID], where: LeadFilter) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        async with deps.reader() as connection:
            return await lead_queries.count_leads(connection, tenant_ids=scope, where=where)

    return count
