"""How many open leads each pipeline column holds right now (one aggregate statement)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import PipelineStage, StageBounds

# :t1..:t3 are the creation times at which a lead's age reaches each bound; the partial index on
# open leads serves the scan.
_COUNTS = text(
    """
    SELECT
        count(*) FILTER (WHERE created_at > :t1) AS follow_up_1,
        count(*) FILTER (WHERE created_at <= :t1 AND created_at > :t2) AS follow_up_2,
        count(*) FILTER (WHERE created_at <= :t2 AND created_at > :t3) AS follow_up_3,
        count(*) FILTER (WHERE created_at <= :t3) AS follow_up_4
    FROM leads
    WHERE tenant_id = :tenant_id AND status IN ('new', 'contacted')
    """
)


async def pipeline_counts(
    connection: AsyncConnection, *, tenant_id: UUID, now: datetime, bounds: StageBounds
) -> dict[PipelineStage, int]:
    """Open leads per column for the tenant, by age at `now`."""
    row = (
        await connection.execute(
            _COUNTS,
            {
                "tenant_id": tenant_id,
                "t1": now - timedelta(seconds=bounds.follow_up_1),
                "t2": now - timedelta(seconds=bounds.follow_up_2),
                "t3": now - timedelta(seconds=bounds.follow_up_3),
            },
        )
    ).one()
    return {stage: int(getattr(row, stage.value)) for stage in PipelineStage}
