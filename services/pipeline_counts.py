"""The pipeline board's column counts for one tenant, as a pipeline subscription reports them."""

from __future__ import annotations

from uuid import UUID

from domain.errors import NotFound
from domain.leads import PipelineStage
from persistence import pipeline_counts as counts_store
from persistence import tenants as tenant_store
from services.deps import Deps


async def pipeline_counts(deps: Deps, *, tenant_id: UUID) -> dict[PipelineStage, int]:
    """Open leads per column now, with the tenant's stage bounds (one short read)."""
    async with deps.reader() as connection:
        tenant = await tenant_store.get_tenant(connection, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return await counts_store.pipeline_counts(
            connection, tenant_id=tenant_id, now=deps.clock.now(), bounds=tenant.settings.stage_bounds
        )
