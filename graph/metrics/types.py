"""GraphQL types of the dashboard numbers (the names and shapes of docs/metrics.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

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
    within_sla: int = strawberry.field(
        description="Responded (first attempt or conversation; timeToFirstContact: reached) by the SLA "
        "deadline: by the tenant's SLA clock, or by open hours in businessHours (docs/metrics.md)."
    )
    breached: int = strawberry.field(
        description="Responded after the deadline, or not yet and the deadline has passed."
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


@strawberry.type(
    description="Leads with at least `attempts` outbound attempts, and how many of them were never reached."
)
class NeverReached:
    attempts: int
    rate: Rate = strawberry.field(description="Never reached / leads with at least `attempts` attempts.")


@strawberry.type(
    description="Outbound attempts (customer calls) from a lead's creation to its first contact, the "
    "connecting call included when outbound; a lead never reached counts all its attempts so far."
)
class AttemptsToContact:
    average: float | None = strawberry.field(description="Over the leads reached.")
    median: float | None = strawberry.field(description="Over the leads reached (percentile_cont).")
    contacted_leads: int
    never_reached: list[NeverReached] = strawberry.field(description="For 1 to 5 attempts.")


@strawberry.type(
    description="Inbound customer calls started in the range that were missed (rang an agent), abandoned "
    "(reached only an IVR, menu or queue) or went to voicemail, and the calls back."
)
class MissedInbound:
    total: int
    missed: int
    abandoned: int
    voicemail: int
    called_back: Rate = strawberry.field(
        description="Followed (at any time) by an outbound call to the same person / total."
    )
    callback_median_seconds: float | None = strawberry.field(
        description="From the missed call's start to the next outbound call's start, over those called back."
    )
    callback_p90_seconds: float | None


@strawberry.type(
    description="One agent (the customer call's agent): their customer calls started in the range, and "
    "the range's leads whose first attempt they placed."
)
class AgentMetrics:
    agent_id: str = strawberry.field(description="Dialpad's user id.")
    name: str | None
    email: str | None = strawberry.field(description="Null for clients (they see names only).")
    attempts: int = strawberry.field(description="Outbound calls.")
    leads_first_attempted: int
    median_speed_seconds: float | None = strawberry.field(
        description="Speed-to-lead of the leads they attempted first."
    )
    connects: int = strawberry.field(description="Outbound calls that connected.")
    connection_rate: Rate = strawberry.field(description="Connects / attempts.")
    bookings: int = strawberry.field(description="Connected calls (either way) with a booked disposition.")
    booking_rate: Rate = strawberry.field(description="Bookings / connected calls (either way).")
    median_talk_seconds: float | None = strawberry.field(
        description="Connected calls (either way): from connect to end."
    )

    @classmethod
    def of(cls, row: definitions.AgentMetrics) -> AgentMetrics:
        return cls(
            agent_id=row.agent_id,
            name=row.name,
            email=row.email,
            attempts=row.attempts,
            leads_first_attempted=row.leads_first_attempted,
            median_speed_seconds=row.median_speed_seconds,
            connects=row.connects,
            connection_rate=Rate.of(row.connection_rate),
            bookings=row.bookings,
            booking_rate=Rate.of(row.booking_rate),
            median_talk_seconds=row.median_talk_seconds,
        )


@strawberry.type(description="The range's leads of one source (the lead's `source`).")
class SourceMetrics:
    source: str
    leads: int
    median_speed_seconds: float | None
    within_sla: int = strawberry.field(description="First attempt or conversation within the SLA.")
    contacted: int = strawberry.field(description="Reached (a connected call either way) at any time.")
    booked: int = strawberry.field(description="Leads booked at or after creation.")
    booking_rate: Rate = strawberry.field(description="Booked / leads.")
    cost_per_lead: float | None = strawberry.field(description="The tenant's setting; null without one.")
    spend: float | None = strawberry.field(description="Cost per lead x leads.")
    cost_per_booking: float | None = strawberry.field(description="Spend / booked; null with no bookings.")

    @classmethod
    def of(cls, row: definitions.SourceMetrics) -> SourceMetrics:
        return cls(
            source=row.source,
            leads=row.leads,
            median_speed_seconds=row.median_speed_seconds,
            within_sla=row.within_sla,
            contacted=row.contacted,
            booked=row.booked,
            booking_rate=Rate.of(row.booking_rate),
            cost_per_lead=row.cost_per_lead,
            spend=row.spend,
            cost_per_booking=row.cost_per_booking,
        )


class BreakdownsNotRead(Exception):
    """A breakdown field resolved without its figures (the query's selection was not seen)."""


@strawberry.type(description="The figures a tenant's metrics and its public dashboard share.")
class MetricFigures:
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
        description="Leads reached (a connected call either way) at or after creation, at any time, / "
        "leads; contactedWithinSla counts only those reached within the SLA."
    )
    trend: list[TrendDay]
    time_to_first_contact: SpeedToLead = strawberry.field(
        description="The speed-to-lead figures measured to the first contact (a connected call either "
        "way) instead of the first attempt: attemptedLeads = leads reached, withinSla = reached within "
        "the SLA (by the tenant's SLA clock)."
    )
    business_hours_to_first_contact: SpeedToLead = strawberry.field(
        description="timeToFirstContact counting only the tenant's open hours."
    )
    contacted_within_sla: Rate = strawberry.field(
        description="Leads reached (a connected call either way) within the SLA, by the tenant's SLA clock / leads."
    )

    @staticmethod
    def figures(metrics: definitions.Metrics) -> dict[str, Any]:
        """The shared fields' values."""
        return {
            "tenant_id": strawberry.ID(str(metrics.tenant_id)),
            "range_from": metrics.range_from,
            "range_to": metrics.range_to,
            "leads": metrics.leads,
            "speed_to_lead": SpeedToLead.of(metrics.speed_to_lead),
            "business_hours": SpeedToLead.of(metrics.business_hours),
            "connection_rate": Rate.of(metrics.connection_rate),
            "booking_rate": Rate.of(metrics.booking_rate),
            "lead_response_rate": Rate.of(metrics.lead_response_rate),
            "trend": [
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
            "time_to_first_contact": SpeedToLead.of(metrics.time_to_first_contact),
            "business_hours_to_first_contact": SpeedToLead.of(metrics.business_hours_to_first_contact),
            "contacted_within_sla": Rate.of(metrics.contacted_within_sla),
        }


@strawberry.type(description="A tenant's numbers over the half-open range [from, to).")
class Metrics(MetricFigures):
    previous: Metrics | None = strawberry.field(
        description="The same figures for the period of equal length just before (as many tenant days "
        "when the range is whole days); null inside `previous` itself."
    )
    breakdowns: strawberry.Private[definitions.Breakdowns | None]

    def _breakdowns(self) -> definitions.Breakdowns:
        if self.breakdowns is None:
            raise BreakdownsNotRead("breakdowns were not read for this query")
        return self.breakdowns

    @strawberry.field(description="Outbound attempts before the first contact.")
    def attempts_to_contact(self) -> AttemptsToContact:
        found = self._breakdowns().attempts_to_contact
        return AttemptsToContact(
            average=found.average,
            median=found.median,
            contacted_leads=found.contacted_leads,
            never_reached=[
                NeverReached(attempts=n.attempts, rate=Rate.of(n.rate)) for n in found.never_reached
            ],
        )

    @strawberry.field(description="Inbound calls missed, abandoned or sent to voicemail, and the callbacks.")
    def missed_inbound(self) -> MissedInbound:
        found = self._breakdowns().missed_inbound
        return MissedInbound(
            total=found.total,
            missed=found.missed,
            abandoned=found.abandoned,
            voicemail=found.voicemail,
            called_back=Rate.of(found.called_back),
            callback_median_seconds=found.callback_median_seconds,
            callback_p90_seconds=found.callback_p90_seconds,
        )

    @strawberry.field(
        description="Per agent, by agent id. Agents see only their own row; clients see no emails; a "
        "public dashboard shows no agents."
    )
    def by_agent(self) -> list[AgentMetrics]:
        return [AgentMetrics.of(row) for row in self._breakdowns().by_agent]

    @strawberry.field(description="Per lead source, by source.")
    def by_source(self) -> list[SourceMetrics]:
        return [SourceMetrics.of(row) for row in self._breakdowns().by_source]

    @classmethod
    def of(cls, metrics: definitions.Metrics) -> Metrics:
        return cls(
            **cls.figures(metrics),
            previous=Metrics.of(metrics.previous) if metrics.previous is not None else None,
            breakdowns=metrics.breakdowns,
        )


@strawberry.type(description="Missed inbound calls as a public dashboard shows them: counts only.")
class MissedCalls:
    total: int = strawberry.field(
        description="Inbound customer calls of the range missed, abandoned or sent to voicemail."
    )
    called_back: Rate
    callback_median_seconds: float | None
    callback_p90_seconds: float | None


@strawberry.type(description="A public dashboard's figures: counts and rates, nobody's details.")
class PublicMetrics(MetricFigures):
    missed_calls: MissedCalls

    @classmethod
    def of(cls, metrics: definitions.Metrics) -> PublicMetrics:
        if metrics.breakdowns is None:
            raise BreakdownsNotRead("a public dashboard's figures need the breakdowns read")
        missed = metrics.breakdowns.missed_inbound
        return cls(
            **cls.figures(metrics),
            missed_calls=MissedCalls(
                total=missed.total,
                called_back=Rate.of(missed.called_back),
                callback_median_seconds=missed.callback_median_seconds,
                callback_p90_seconds=missed.callback_p90_seconds,
            ),
        )
