"""Export the leads a caller may see: the GraphQL list's filters and scoping, streamed in batches."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any
from uuid import UUID

from domain.leads import PipelineStage
from domain.roles import Principal
from persistence import lead_queries
from persistence.lead_queries import LeadFilter
from persistence.unit_of_work import snapshot_batches
from services.deps import Deps
from services.find_leads import lead_selection

EXPORT_BATCH = 2000


async def export_leads(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID | None,
    where: LeadFilter,
    stages: tuple[PipelineStage, ...] = (),
    batch: int = EXPORT_BATCH,
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """Checks the request now (raising before any row), then returns the matching leads newest first
    in batches of `lead_queries.LEAD_EXPORT_COLUMNS`, read from one snapshot."""
    scope, where = await lead_selection(deps, actor=actor, tenant_id=tenant_id, where=where, stages=stages)

    return snapshot_batches(
        deps.engine,
        lambda connection: lead_queries.stream_leads(connection, tenant_ids=scope, where=where, batch=batch),
    )
