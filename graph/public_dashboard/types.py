"""GraphQL types of public dashboards: the link, and what it shows (figures only, nobody's details)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.enums import PipelineStage
from graph.metrics.types import PublicMetrics
from persistence.public_links import PublicLinkRow
from services import public_dashboard as dashboards


def dashboard_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/dashboard/{token}"


@strawberry.type(description="A no-login link to a tenant's dashboard; the token in its URL is the secret.")
class PublicLink:
    id: strawberry.ID
    tenant_id: strawberry.ID
    token: str
    url: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: PublicLinkRow, *, base_url: str) -> PublicLink:
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=strawberry.ID(str(row.tenant_id)),
            token=row.token,
            url=dashboard_url(base_url, row.token),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A column of the follow-up board: how many open leads, never which.")
class PublicPipelineColumn:
    stage: PipelineStage
    title: str
    count: int


@strawberry.type(
    description="What a public link shows: the tenant's title, metrics and pipeline counts. "
    "Figures only: no field names, reaches or describes a person."
)
class PublicDashboard:
    title: str = strawberry.field(description="The tenant's (business) name.")
    timezone: str = strawberry.field(description="The tenant's IANA timezone: days and the trend follow it.")
    metrics: PublicMetrics = strawberry.field(description="The tenant's last 30 days.")
    pipeline: list[PublicPipelineColumn]
    as_of: datetime = strawberry.field(description="When these figures were read.")

    @classmethod
    def of(cls, found: dashboards.PublicDashboard) -> PublicDashboard:
        return cls(
            title=found.link.tenant_name,
            timezone=found.link.timezone,
            metrics=PublicMetrics.of(found.metrics),
            pipeline=[
                PublicPipelineColumn(stage=column.stage, title=column.title, count=column.count)
                for column in found.pipeline.columns
            ],
            as_of=found.pipeline.now,
        )
