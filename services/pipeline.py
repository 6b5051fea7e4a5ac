"""The follow-up board of one tenant: its four columns with their age bounds and lead counts."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.errors import Forbidden, NotFound
from domain.leads import STAGE_TITLES, PipelineStage, stage_age_range
from domain.roles import Principal, can_see_tenant
from persistence import pipeline_counts as counts_store
from persistence import tenants as tenant_store
from services.deps import Deps


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
        counts = await counts_store.pipeline_counts(
            connection, tenant_id=tenant_id, now=deps.clock.now(), bounds=bounds
        )
    return PipelineBoard(
        tenant_id=tenant_id,
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
