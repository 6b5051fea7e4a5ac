"""Queries: `metrics(tenantId, from, to)` and `pipeline(tenantId)`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.metrics.loaders import metrics_key, metrics_loader
from graph.metrics.pipeline_types import Pipeline
from graph.metrics.types import Metrics
from services.pipeline import pipeline_board


@strawberry.type
class MetricsQuery:
    @strawberry.field(
        description="A tenant's dashboard numbers over [from, to); by default its last 30 days (in its timezone)."
    )
    async def metrics(
        self,
        info: Info,
        tenant_id: strawberry.ID,
        range_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        range_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> Metrics:
        key = metrics_key(info, parse_uuid(tenant_id, field="tenantId"), range_from, range_to)
        return Metrics.of(await metrics_loader(info.context).load(key))

    @strawberry.field(description="A tenant's follow-up board: open leads by age, with its stage bounds.")
    async def pipeline(self, info: Info, tenant_id: strawberry.ID) -> Pipeline:
        found = await pipeline_board(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return Pipeline.of(found)
