"""The pipeline column of a lead's age has one definition (domain.leads.stage_age_range): the Python
`stage_for` and the SQL `stage_sql` are both built on it, and agree at every edge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.leads import LeadStatus, PipelineStage, StageBounds, stage_age_range, stage_for
from persistence.lead_stages import stage_sql

NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def _edges(bounds: StageBounds) -> list[float]:
    """Every age where a column starts, and a hair either side of it."""
    starts = [stage_age_range(stage, bounds)[0] for stage in PipelineStage]
    return sorted({max(0.0, start + shift) for start in starts for shift in (-0.001, 0.0, 0.001)} | {10**8})


async def test_the_sql_column_of_an_age_is_the_python_one_at_every_edge(engine: AsyncEngine) -> None:
    custom = StageBounds(follow_up_1=3600, follow_up_2=7200, follow_up_3=86_400)
    cases = [
        (settings, bounds, age)
        for settings, bounds in (({}, StageBounds()), ({"stage_bounds": custom.as_list()}, custom))
        for age in _edges(bounds)
    ]
    statement = text(
        f"SELECT {stage_sql(created_at='CAST(:created AS timestamptz)', settings='CAST(:settings AS jsonb)', now='CAST(:now AS timestamptz)')}"
    )
    async with engine.connect() as connection:
        for settings, bounds, age in cases:
            created = NOW - timedelta(seconds=age)
            in_sql = (
                await connection.execute(
                    statement, {"created": created, "settings": json.dumps(settings), "now": NOW}
                )
            ).scalar_one()
            assert in_sql == stage_for(LeadStatus.NEW, created, NOW, bounds), (settings, age)
    # The cases cover every column.
    assert {
        stage_for(LeadStatus.NEW, NOW - timedelta(seconds=age), NOW, bounds) for _, bounds, age in cases
    } == set(PipelineStage)
