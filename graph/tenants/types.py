"""GraphQL types for tenants and their lead webhooks (never the Dialpad webhook secret)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import strawberry

from domain.errors import Forbidden
from domain.leads import STAGE_TITLES, stage_age_range
from domain.roles import can_administer
from domain.tenants import TenantSettings
from graph.context import Info
from graph.enums import DialpadMode, PipelineStage, SlaClock, TenantStatus
from graph.loaders import loaders
from graph.metrics.loaders import metrics_key, metrics_loader
from graph.metrics.types import Metrics
from persistence.tenants import LeadWebhookRow, TenantRow


def lead_webhook_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/lead/{token}"


@strawberry.type(description="An inbound lead endpoint of a tenant; its URL is the secret.")
class LeadWebhook:
    id: strawberry.ID
    url: str
    label: str | None
    active: bool
    created_at: datetime
    rotated_at: datetime | None

    @classmethod
    def from_row(cls, row: LeadWebhookRow, *, base_url: str) -> LeadWebhook:
        return cls(
            id=strawberry.ID(str(row.id)),
            url=lead_webhook_url(base_url, row.token),
            label=row.label,
            active=row.active,
            created_at=row.created_at,
            rotated_at=row.rotated_at,
        )


@strawberry.type
class StageBound:
    stage: PipelineStage
    title: str
    # Ages in seconds [min, max); max null for the last stage.
    min_age_seconds: int
    max_age_seconds: int | None


@strawberry.type
class BusinessHours:
    day: str
    # "HH:MM" open and close in the tenant's timezone; empty when closed.
    hours: list[str]


@strawberry.type
class SourceCost:
    source: str
    cost_per_lead: float


@strawberry.type(name="TenantSettings")
class TenantSettingsType:
    sla_seconds: int
    business_hours: list[BusinessHours]
    stage_bounds: list[StageBound]
    booked_dispositions: list[str]
    default_region: str | None
    holidays: list[date] = strawberry.field(description="Dates closed all day, in the tenant's timezone.")
    sla_clock: SlaClock = strawberry.field(
        description="WALL: the SLA runs around the clock; BUSINESS_HOURS: only while open (docs/metrics.md)."
    )
    source_costs: list[SourceCost] = strawberry.field(description="Cost of one lead per source.")

    @classmethod
    def from_settings(cls, settings: TenantSettings) -> TenantSettingsType:
        return cls(
            sla_seconds=settings.sla_seconds,
            business_hours=[
                BusinessHours(day=day, hours=list(hours)) for day, hours in settings.business_hours.items()
            ],
            stage_bounds=[
                StageBound(
                    stage=stage,
                    title=STAGE_TITLES[stage],
                    min_age_seconds=stage_age_range(stage, settings.stage_bounds)[0],
                    max_age_seconds=stage_age_range(stage, settings.stage_bounds)[1],
                )
                for stage in PipelineStage
            ],
            booked_dispositions=list(settings.booked_dispositions),
            default_region=settings.default_region,
            holidays=list(settings.holidays),
            sla_clock=settings.sla_clock,
            source_costs=[
                SourceCost(source=source, cost_per_lead=cost) for source, cost in settings.source_costs
            ],
        )


@strawberry.type
class Tenant:
    id: strawberry.ID
    name: str
    slug: str
    timezone: str
    status: TenantStatus
    status_reason: str | None
    dialpad_mode: DialpadMode | None
    dialpad_call_center_id: str | None
    created_at: datetime
    updated_at: datetime
    settings: TenantSettingsType
    tenant_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: TenantRow) -> Tenant:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            slug=row.slug,
            timezone=row.timezone,
            status=row.status,
            status_reason=row.status_reason,
            dialpad_mode=DialpadMode(row.dialpad_mode) if row.dialpad_mode else None,
            dialpad_call_center_id=row.dialpad_call_center_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            settings=TenantSettingsType.from_settings(row.settings),
            tenant_id=row.id,
        )

    @strawberry.field(description="The tenant's inbound lead endpoints (admins only).")
    async def lead_webhooks(self, info: Info) -> list[LeadWebhook] | None:
        if not can_administer(info.context.require_principal()):
            raise Forbidden("only admins see lead webhooks")
        rows = await loaders(info).lead_webhooks_by_tenant.load(self.tenant_id)
        base_url = info.context.deps.public_base_url
        return [LeadWebhook.from_row(row, base_url=base_url) for row in rows]

    @strawberry.field(
        description="Dashboard numbers over [from, to), by default the tenant's last 30 days; every "
        "tenant's metrics in one operation are computed by one statement."
    )
    async def metrics(
        self,
        info: Info,
        range_from: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        range_to: Annotated[datetime | None, strawberry.argument(name="to")] = None,
    ) -> Metrics:
        key = metrics_key(info, self.tenant_id, range_from, range_to)
        return Metrics.of(await metrics_loader(info.context).load(key))
