"""Metric aggregates, computed in PostgreSQL (never rows in Python): one statement per batch.

The statement is `persistence/sql/metrics_statement.sql` (each CTE's purpose in a comment there),
with fragments generated from their one home filled in at import: the business clock and SLA states
(`persistence/business_clock.py`) and the speed bands (`domain/metrics.py` `SPEED_BANDS`). Print it
as sent with `python -m persistence.metrics`.

What it reads: per tenant day of each range, one index range of `ix_leads_metrics` and one of
`ix_calls_metrics`, index-only. Lead facts are columns call processing keeps: `first_attempt_at`,
`first_connected_at`, `booked_at` (the call statement, `persistence/sql/call_outcome.sql`) and the
attempt facts `attempts_to_contact`, `first_attempt_agent_id` and a call's `callback_at` (triggers
from the one attempt rule, `persistence/sql/call_attempt_facts.sql`), so no lead is joined to its
calls here. Defensively, an attempt or connection stamped before the lead's `created_at` is
ignored. Call figures count customer calls (`is_primary_leg`; domain/call_projection.py). A booked
call is `calls.booked` (set from the tenant's keywords when the disposition arrived).

One result row per request, so an overview of every tenant costs one query; the breakdowns
(attempts, agents, sources, missed calls) are computed only for requests with `details`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.business_hours import WeeklyHours
from domain.metrics import (
    NEVER_REACHED_ATTEMPTS,
    SPEED_BANDS,
    AgentMetrics,
    AttemptsToContact,
    BandCount,
    Breakdowns,
    Metrics,
    MissedInbound,
    NeverReached,
    Rate,
    SourceMetrics,
    SpeedToLead,
    TrendDay,
    source_costs,
)
from persistence.business_clock import (
    TenantClock,
    business_clock_ctes,
    clock_parameters,
    deadlines_lateral,
    open_seconds_at,
    sla_state,
)
from persistence.sql_files import compact, fill_fragments, read_sql


@dataclass(frozen=True)
class MetricsRequest:
    tenant_id: UUID
    timezone: str
    range_from: datetime
    range_to: datetime
    sla_seconds: int
    hours: WeeklyHours
    holidays: tuple[date, ...] = ()
    # The SLA runs only while open (SlaClock.BUSINESS_HOURS).
    business_sla: bool = False
    # Also the breakdowns (they read the range's calls).
    details: bool = False
    # Also the time-to-first-contact figures and contacted within the SLA (a third of the per-lead
    # work: computed only when asked).
    first_contact: bool = True
    # Source -> cost of one lead (tenant setting).
    source_costs: tuple[tuple[str, float], ...] = ()


def _band_counts(column: str, prefix: str) -> str:
    return ",\n        ".join(
        f"count(*) FILTER (WHERE {column} = {index}) AS {prefix}{index}" for index in range(len(SPEED_BANDS))
    )


# width_bucket(seconds, thresholds) - 1 is the index of the band in SPEED_BANDS.
_BAND_THRESHOLDS = "ARRAY[" + ", ".join(str(band.lower_seconds) for band in SPEED_BANDS) + "]::float8[]"


# The four speed figures: (prefix, seconds, reached, state) columns of lead_rows.
_SPEED_FIGURES = (
    ("speed", "speed", "attempted", "speed_state"),
    ("business", "business", "attempted", "business_state"),
    ("contact", "contact_speed", "contacted", "contact_state"),
    ("contact_business", "contact_business", "contacted", "contact_business_state"),
)


def _speed_aggregates(prefix: str, seconds: str, reached: str, state: str) -> str:
    """Average, median and p90 of `seconds` over the leads `reached`, SLA states and bands (the
    band of each lead is `{prefix}_band`, from `_BANDS`)."""
    return f"""avg({seconds}) FILTER (WHERE {reached}) AS {prefix}_avg,
        percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {seconds}) FILTER (WHERE {reached})
            AS {prefix}_percentiles,
        count(*) FILTER (WHERE {state} = 1) AS {prefix}_within,
        count(*) FILTER (WHERE {state} = 2) AS {prefix}_breached,
        {_band_counts(f"{prefix}_band", f"{prefix}_band_")}"""


# Each lead's band per figure (NULL when not reached): its index in SPEED_BANDS.
_BANDS = ",\n        ".join(
    f"CASE WHEN {reached} THEN width_bucket({seconds}, {_BAND_THRESHOLDS}) - 1 END AS {prefix}_band"
    for prefix, seconds, reached, _ in _SPEED_FIGURES
)


# Now in epoch seconds, computed once per request (params.now_epoch), carried on each lead's row.
_NOW_EPOCH = "c.now_epoch"

# Leads of the breakdowns' requests with at least N attempts, and those of them never reached.
_NEVER_REACHED = ",\n        ".join(
    f"count(*) FILTER (WHERE details AND attempts >= {n}) AS tried_{n}, "
    f"count(*) FILTER (WHERE details AND attempts >= {n} AND NOT contacted) AS unreached_{n}"
    for n in NEVER_REACHED_ATTEMPTS
)

# The fragments `persistence/sql/metrics_statement.sql` names as {{name}}, generated from their one
# home. Numbers in them come from domain constants, never from input.
_FRAGMENTS = {
    "business_clock_ctes": business_clock_ctes("span"),
    "open_created": open_seconds_at("c", "created_epoch", "created_bucket"),
    "open_until": open_seconds_at("c", "until_epoch", "until_bucket"),
    "open_contact": open_seconds_at("c", "contact_epoch", "contact_bucket"),
    "deadlines": deadlines_lateral("c", "created_epoch", "created_bucket", "c.sla", "c.business_sla"),
    "speed_state": sla_state("c.answered", "c.response_epoch", "c.sla_deadline", _NOW_EPOCH),
    "business_state": sla_state("c.answered", "c.response_epoch", "c.business_deadline", _NOW_EPOCH),
    "contact_state": sla_state("c.contacted", "c.contact_epoch", "c.sla_deadline", _NOW_EPOCH),
    "contact_business_state": sla_state("c.contacted", "c.contact_epoch", "c.business_deadline", _NOW_EPOCH),
    **{f"{figure[0]}_aggregates": _speed_aggregates(*figure) for figure in _SPEED_FIGURES},
    "bands": _BANDS,
    "never_reached": _NEVER_REACHED,
}

# The statement as written in its file, with its fragments filled in (comments kept: printable for
# psql); the driver gets it compacted.
METRICS_SQL = fill_fragments(read_sql("metrics_statement"), _FRAGMENTS)
METRICS_STATEMENT = text(compact(METRICS_SQL))

# An agent's name and email as on their latest call of the range (names are not in the index).
_AGENT_NAMES = text(
    """
    SELECT a.agent_id, n.agent_name, n.agent_email
    FROM unnest(CAST(:agent_ids AS text[])) AS a(agent_id)
    CROSS JOIN LATERAL (
        SELECT c.agent_name, c.agent_email
        FROM calls c
        WHERE c.tenant_id = :tenant_id AND c.is_primary_leg AND c.agent_id = a.agent_id
          AND c.started_at >= :since
        ORDER BY c.started_at DESC
        LIMIT 1
    ) AS n
    """
)


def metrics_parameters(requests: Sequence[MetricsRequest], now: datetime) -> dict[str, Any]:
    """The bind parameters of METRICS_STATEMENT for a batch (exposed for the benchmark's bare SQL)."""
    return {
        "tenant_ids": [request.tenant_id for request in requests],
        "tzs": [request.timezone for request in requests],
        "froms": [request.range_from for request in requests],
        "tos": [request.range_to for request in requests],
        "slas": [float(request.sla_seconds) for request in requests],
        "business_slas": [request.business_sla for request in requests],
        "details": [request.details for request in requests],
        "first_contacts": [request.first_contact for request in requests],
        **clock_parameters(TenantClock(r.tenant_id, r.hours, r.holidays) for r in requests),
        "now": now,
    }


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _speed(row: Any, prefix: str, reached: int, unreached: int, sla: int) -> SpeedToLead:
    median, p90 = getattr(row, f"{prefix}_percentiles") or (None, None)
    return SpeedToLead(
        average_seconds=_float(getattr(row, f"{prefix}_avg")),
        median_seconds=_float(median),
        p90_seconds=_float(p90),
        attempted_leads=reached,
        unattempted_leads=unreached,
        within_sla=_int(getattr(row, f"{prefix}_within")),
        breached=_int(getattr(row, f"{prefix}_breached")),
        sla_seconds=sla,
        bands=tuple(
            BandCount(band.label, _int(getattr(row, f"{prefix}_band_{index}")))
            for index, band in enumerate(SPEED_BANDS)
        ),
    )


@dataclass(frozen=True)
class AgentName:
    name: str | None
    email: str | None


async def agent_names(
    connection: AsyncConnection, tenant_id: UUID, agent_ids: Sequence[str], *, since: datetime
) -> dict[str, AgentName]:
    """Each agent's name and email as on their latest call since `since`."""
    if not agent_ids:
        return {}
    rows = await connection.execute(
        _AGENT_NAMES, {"agent_ids": list(agent_ids), "tenant_id": tenant_id, "since": since}
    )
    return {row.agent_id: AgentName(row.agent_name, row.agent_email) for row in rows}


def _breakdowns(request: MetricsRequest, row: Any, names: dict[str, AgentName]) -> Breakdowns:
    callback_median, callback_p90 = row.callback_percentiles or (None, None)
    missed_total = _int(row.missed_total)
    costs = dict(request.source_costs)
    sources = []
    for source, leads, speed_median, within, contacted, booked in row.sources or ():
        spend, per_booking = source_costs(costs.get(source), leads, booked)
        sources.append(
            SourceMetrics(
                source=source,
                leads=leads,
                median_speed_seconds=_float(speed_median),
                within_sla=within,
                contacted=contacted,
                booked=booked,
                booking_rate=Rate(booked, leads),
                cost_per_lead=costs.get(source),
                spend=spend,
                cost_per_booking=per_booking,
            )
        )
    return Breakdowns(
        attempts_to_contact=AttemptsToContact(
            average=_float(row.attempts_avg),
            median=_float(row.attempts_median),
            contacted_leads=_int(row.contacted),
            never_reached=tuple(
                NeverReached(n, Rate(_int(getattr(row, f"unreached_{n}")), _int(getattr(row, f"tried_{n}"))))
                for n in NEVER_REACHED_ATTEMPTS
            ),
        ),
        missed_inbound=MissedInbound(
            total=missed_total,
            missed=_int(row.missed_missed),
            abandoned=_int(row.missed_abandoned),
            voicemail=_int(row.missed_voicemail),
            called_back=Rate(_int(row.called_back), missed_total),
            callback_median_seconds=_float(callback_median),
            callback_p90_seconds=_float(callback_p90),
        ),
        by_agent=tuple(
            AgentMetrics(
                agent_id=agent_id,
                name=names[agent_id].name if agent_id in names else None,
                email=names[agent_id].email if agent_id in names else None,
                attempts=attempts,
                leads_first_attempted=leads,
                median_speed_seconds=_float(speed_median),
                connects=connects,
                connection_rate=Rate(connects, attempts),
                bookings=bookings,
                booking_rate=Rate(bookings, connected),
                median_talk_seconds=_float(talk_median),
            )
            for agent_id, attempts, leads, speed_median, connects, connected, bookings, talk_median in row.agents
            or ()
        ),
        by_source=tuple(sources),
    )


async def tenant_metrics(
    connection: AsyncConnection, requests: Sequence[MetricsRequest], *, now: datetime
) -> list[Metrics]:
    """Metrics for each request, in request order, from one statement (and, for the breakdowns, one
    for the agents' names)."""
    if not requests:
        return []
    # JIT is off for CallTrax's connections (persistence.db.create_engine): the planner's cost for
    # a batch of large tenants passes jit_above_cost, and compiling costs more than it saves.
    rows = (await connection.execute(METRICS_STATEMENT, metrics_parameters(requests, now))).all()
    answers = []
    for request, row in zip(requests, rows, strict=True):
        leads = _int(row.leads)
        attempted = _int(row.attempted)
        contacted = _int(row.contacted)
        sla = request.sla_seconds
        breakdowns = None
        if request.details:
            agent_ids = [agent[0] for agent in row.agents or ()]
            names = await agent_names(connection, request.tenant_id, agent_ids, since=request.range_from)
            breakdowns = _breakdowns(request, row, names)
        answers.append(
            Metrics(
                tenant_id=request.tenant_id,
                range_from=request.range_from,
                range_to=request.range_to,
                leads=leads,
                speed_to_lead=_speed(row, "speed", attempted, leads - attempted, sla),
                business_hours=_speed(row, "business", attempted, leads - attempted, sla),
                connection_rate=Rate(_int(row.outbound_connected), _int(row.outbound)),
                booking_rate=Rate(_int(row.booked), _int(row.connected)),
                lead_response_rate=Rate(contacted, leads),
                trend=tuple(
                    TrendDay(
                        day=date.fromisoformat(day),
                        leads=day_leads,
                        calls=calls,
                        connected=connected,
                        booked=booked,
                        median_speed_seconds=_float(median),
                    )
                    for day, day_leads, median, calls, connected, booked in row.trend
                ),
                time_to_first_contact=_speed(row, "contact", contacted, leads - contacted, sla),
                business_hours_to_first_contact=_speed(
                    row, "contact_business", contacted, leads - contacted, sla
                ),
                contacted_within_sla=Rate(_int(row.contacted_within), leads),
                breakdowns=breakdowns,
            )
        )
    return answers


if __name__ == "__main__":
    # The statement as sent (before compaction), to read or to run with psql.
    sys.stdout.write(METRICS_SQL)
