"""Queries: `metrics(tenantId, from, to)`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry

from domain.errors import BadInput
from graph.context import Info
from graph.metrics.loaders import metrics_loader
from graph.metrics.types import Metrics
from services.metrics import MetricsKey


def tenant_uuid(value: strawberry.ID, field: str = "tenantId") -> UUID:
    try:
        return UUID(str(value))
    except ValueError as error:
        raise BadInput("not a tenant id", fields={field: "not an id"}) from error


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
        key = MetricsKey(tenant_uuid(tenant_id), range_from, range_to)
        return Metrics.of(await metrics_loader(info.context).load(key))
