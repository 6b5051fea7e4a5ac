"""How many open leads each pipeline column holds right now (one aggregate statement)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import PipelineStage, StageBounds

# :t1..:t3 are the creation times at which a lead's age reaches each bound. Four index-only range
# counts on the partial index of open leads: bounds in the index condition cost about half of one
# pass evaluating a FILTER per open lead (measured on 26k open leads: 5 ms vs 7-13 ms).
_OPEN = "FROM leads WHERE tenant_id = :tenant_id AND status IN ('new', 'contacted')"
_COUNTS = text(
    f"""
    SELECT
        (SELECT count(*) {_OPEN} AND created_at > :t1) AS follow_up_1,
        (SELECT count(*) {_OPEN} AND created_at <= :t1 AND created_at > :t2) AS follow_up_2,
        (SELECT count(*) {_OPEN} AND created_at <= :t2 AND created_at > :t3) AS follow_up_3,
        (SELECT count(*) {_OPEN} AND created_at <= :t3) AS follow_up_4
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
