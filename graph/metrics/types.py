"""GraphQL types of the dashboard numbers (the names and shapes of docs/metrics.md)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from domain import metrics as definitions


@strawberry.type(description="numerator / denominator; value is null when the denominator is 0.")
class Rate:
    numerator: int
    denominator: int
    value: float | None

    @classmethod
    def of(cls, rate: definitions.Rate) -> Rate:
        return cls(numerator=rate.numerator, denominator=rate.denominator, value=rate.value)


@strawberry.type(description="Attempted leads whose speed-to-lead falls in [lower, upper).")
class SpeedBand:
    label: str
    count: int


@strawberry.type(
    description="Speed-to-lead over attempted leads: first outbound call to the contact at or after the "
    "lead's creation, minus its creation. Percentiles interpolate (percentile_cont)."
)
class SpeedToLead:
    average_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    attempted_leads: int
    unattempted_leads: int
    within_sla: int = strawberry.field(description="First attempt within the SLA.")
    breached: int = strawberry.field(
        description="SLA ran out before any attempt: attempted late, or unattempted and older than the SLA."
    )
    sla_seconds: int
    bands: list[SpeedBand]

    @classmethod
    def of(cls, speed: definitions.SpeedToLead) -> SpeedToLead:
        return cls(
            average_seconds=speed.average_seconds,
            median_seconds=speed.median_seconds,
            p90_seconds=speed.p90_seconds,
            attempted_leads=speed.attempted_leads,
            unattempted_leads=speed.unattempted_leads,
            within_sla=speed.within_sla,
            breached=speed.breached,
            sla_seconds=speed.sla_seconds,
            bands=[SpeedBand(label=band.label, count=band.count) for band in speed.bands],
        )


@strawberry.type(description="One tenant day (in the tenant's timezone).")
class TrendDay:
    day: date
    leads: int = strawberry.field(description="Leads created that day.")
    calls: int = strawberry.field(description="Calls started that day (primary legs, both directions).")
    connected: int
    booked: int = strawberry.field(description="Connected calls with a booked disposition.")
    median_speed_seconds: float | None = strawberry.field(description="Of the leads created that day.")


@strawberry.type(description="A tenant's numbers over the half-open range [from, to).")
class Metrics:
    tenant_id: strawberry.ID
    range_from: datetime = strawberry.field(name="from")
    range_to: datetime = strawberry.field(name="to")
    leads: int
    speed_to_lead: SpeedToLead
    business_hours: SpeedToLead = strawberry.field(
        description="The speed-to-lead figures counting only the tenant's open hours."
    )
    connection_rate: Rate = strawberry.field(description="Outbound calls that connected / outbound calls.")
    booking_rate: Rate = strawberry.field(
        description="Connected calls with a booked disposition / connected calls."
    )
    lead_response_rate: Rate = strawberry.field(
        description="Leads with a connected call at or after creation / leads."
    )
    trend: list[TrendDay]

    @classmethod
    def of(cls, metrics: definitions.Metrics) -> Metrics:
        return cls(
            tenant_id=strawberry.ID(str(metrics.tenant_id)),
            range_from=metrics.range_from,
            range_to=metrics.range_to,
            leads=metrics.leads,
            speed_to_lead=SpeedToLead.of(metrics.speed_to_lead),
            business_hours=SpeedToLead.of(metrics.business_hours),
            connection_rate=Rate.of(metrics.connection_rate),
            booking_rate=Rate.of(metrics.booking_rate),
            lead_response_rate=Rate.of(metrics.lead_response_rate),
            trend=[
                TrendDay(
                    day=day.day,
                    leads=day.leads,
                    calls=day.calls,
                    connected=day.connected,
                    booked=day.booked,
                    median_speed_seconds=day.median_speed_seconds,
                )
                for day in metrics.trend
            ],
        )
