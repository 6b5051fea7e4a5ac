"""Mutations: `updateTenantSettings(tenantId, input)` (admins)."""

from __future__ import annotations

from datetime import date

import strawberry

from domain.settings_rules import UNCHANGED, SettingsChange
from domain.tenants import SlaClock
from graph.context import Info
from graph.ids import parse_uuid
from graph.provisioning.types import BusinessHoursInput
from graph.tenants.types import Tenant
from services.update_tenant_settings import update_tenant_settings


@strawberry.input(description="What one lead of a source costs.")
class SourceCostInput:
    source: str = strawberry.field(description="The lead source, as leads carry it (e.g. google).")
    cost_per_lead: float = strawberry.field(description="0 to 1,000,000, in the tenant's currency.")


@strawberry.input(description="Only the fields given change.")
class TenantSettingsInput:
    sla_seconds: int | None = strawberry.UNSET
    business_hours: BusinessHoursInput | None = strawberry.field(
        default=strawberry.UNSET, description="The whole week; days left out are closed."
    )
    stage_bounds: list[int] | None = strawberry.field(
        default=strawberry.UNSET, description="Ends in seconds of Follow Up 1, 2 and 3 (ages), increasing."
    )
    booked_dispositions: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Words that mark a disposition as a booking."
    )
    default_region: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="ISO 3166 region for national numbers; null = from the timezone.",
    )
    holidays: list[date] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Dates closed all day (tenant days), replacing the list; business-hours figures skip them.",
    )
    sla_clock: SlaClock | None = strawberry.field(
        default=strawberry.UNSET,
        description="WALL: the SLA runs around the clock; BUSINESS_HOURS: only while open.",
    )
    source_costs: list[SourceCostInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Cost of one lead per source, replacing the list: bySource's cost per lead and booking.",
    )


def _given(value: object) -> bool:
    return value is not strawberry.UNSET and value is not None


def _change(data: TenantSettingsInput) -> SettingsChange:
    """Absent (or null) leaves a setting alone; only defaultRegion takes null as a value."""
    return SettingsChange(
        sla_seconds=data.sla_seconds if _given(data.sla_seconds) else UNCHANGED,  # type: ignore[arg-type]
        business_hours=data.business_hours.as_dict() if data.business_hours else UNCHANGED,
        stage_bounds=data.stage_bounds if _given(data.stage_bounds) else UNCHANGED,  # type: ignore[arg-type]
        booked_dispositions=(
            data.booked_dispositions if _given(data.booked_dispositions) else UNCHANGED  # type: ignore[arg-type]
        ),
        default_region=UNCHANGED if data.default_region is strawberry.UNSET else data.default_region,
        holidays=data.holidays if _given(data.holidays) else UNCHANGED,  # type: ignore[arg-type]
        sla_clock=data.sla_clock if _given(data.sla_clock) else UNCHANGED,  # type: ignore[arg-type]
        source_costs=(
            {cost.source: cost.cost_per_lead for cost in data.source_costs}  # type: ignore[union-attr]
            if _given(data.source_costs)
            else UNCHANGED
        ),
    )


@strawberry.type
class MetricsMutation:
    @strawberry.mutation(
        description="Change a tenant's settings (admins); BAD_USER_INPUT names each bad field."
    )
    async def update_tenant_settings(
        self, info: Info, tenant_id: strawberry.ID, input: TenantSettingsInput
    ) -> Tenant:
        row = await update_tenant_settings(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
            change=_change(input),
        )
        return Tenant.from_row(row)
