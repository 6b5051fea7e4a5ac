"""Metric aggregates, computed in PostgreSQL (never rows in Python).

Where lead facts come from: the derived columns on `leads` (`first_attempt_at`,
`first_connected_at`), which call processing maintains as calls arrive (DESIGN section 3:
"maintained by call processing so the metrics read one table"). Reading them is an index-only
range scan (ix_leads_metrics); recomputing from `calls` would join every lead to its contact's
calls since `from` (calls after `to` count too), several times the work. The two rules are still
enforced here, defensively: an attempt or connection stamped before the lead's `created_at` is
ignored (`first_attempt_at >= created_at`), and call-based figures count customer calls: the
primary leg's row holds the whole customer call (`is_primary_leg`; domain/call_projection.py), so
a call with several legs counts once, with the booking of any leg. A booked call is
`calls.booked`, which disposition processing sets from the tenant's booked keywords when the
disposition arrives (changing the keywords later does not rewrite history). The SLA counts the
first attempt or the first conversation (`first_connected_at`), whichever came first.

One statement per batch of (tenant, range) requests, one result row per request, so an overview
of every tenant costs one query:
- `days`: the tenant days of each range, as [day_from, day_to) instants (local midnights through
  AT TIME ZONE, so a 23- or 25-hour day is right). Leads and calls are read one index range per
  day (measured: a time zone conversion per row tripled the calls part);
- leads of the range with speed-to-lead in seconds and in business seconds, aggregated into totals
  (one sort serves median and p90) and per-day medians;
- primary calls counted per day (ix_calls_metrics, index-only), totals summed from the days;
- the trend as a JSON array per request (day, leads, median speed, calls, connected, booked).

Business seconds: B(t) = seconds the tenant was open from the clock's start up to instant t
(`persistence/business_clock.py`, holidays closed), and a lead's business speed is
B(attempt) - B(created). The clock covers the day before the range (or now) to the day after its
end (or now). An attempt stamped more than a day after the clock's now stops counting at the
clock's end (only a fake clock can do that). Every SLA state is read against a deadline from the
same module (the tenant's SLA clock: wall or business hours).

Breakdowns (docs/metrics.md), for the requests that ask for them (`details`), in the same
statement: the tenant's primary calls since the earliest such range's start are read once
(ix_calls_metrics, index-only) and hash-joined to the range's leads (attempts to first contact,
the agent of each lead's first attempt) and to themselves (a missed inbound call's callback: the
next outbound call to the same contact); agents' figures group the range's calls.
"""

from __future__ import annotations

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
    # Source -> cost of one lead (tenant setting).
    source_costs: tuple[tuple[str, float], ...] = ()


def _band_counts(column: str, prefix: str) -> str:
    return ",\n        ".join(
        f"count(*) FILTER (WHERE {column} = {index}) AS {prefix}{index}" for index in range(len(SPEED_BANDS))
    )


# width_bucket(seconds, thresholds) - 1 is the index of the band in SPEED_BANDS.
_BAND_THRESHOLDS = "ARRAY[" + ", ".join(str(band.lower_seconds) for band in SPEED_BANDS) + "]::float8[]"


def _speed_aggregates(prefix: str, seconds: str, reached: str, state: str) -> str:
    """Average, median and p90 of `seconds` over the leads `reached`, SLA states and bands."""
    return f"""avg({seconds}) FILTER (WHERE {reached}) AS {prefix}_avg,
        -- One sort serves both percentiles.
        percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {seconds}) FILTER (WHERE {reached})
            AS {prefix}_percentiles,
        count(*) FILTER (WHERE {state} = 1) AS {prefix}_within,
        count(*) FILTER (WHERE {state} = 2) AS {prefix}_breached,
        {_band_counts(f"CASE WHEN {reached} THEN width_bucket({seconds}, {_BAND_THRESHOLDS}) - 1 END", f"{prefix}_band_")}"""


_NOW_EPOCH = "date_part('epoch', CAST(:now AS timestamptz))"

_NEVER_REACHED = ",\n        ".join(
    f"count(*) FILTER (WHERE attempts >= {n}) AS tried_{n}, "
    f"count(*) FILTER (WHERE attempts >= {n} AND NOT contacted) AS unreached_{n}"
    for n in NEVER_REACHED_ATTEMPTS
)

# Numbers in the text come from domain constants above, never from input.
_METRICS_SQL = f"""
WITH params AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.tz, p.range_from, p.range_to, p.sla, p.business_sla, p.details,
           f.first_day, f.last_day - f.first_day + 1 AS days,
           -- Where each tenant day of the range starts, then the range's end.
           ARRAY(SELECT greatest(p.range_from, (f.first_day + g.n)::timestamp AT TIME ZONE p.tz)
                 FROM generate_series(0, f.last_day - f.first_day) AS g(n) ORDER BY g.n) || p.range_to AS day_bounds
    FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:tzs AS text[]), CAST(:froms AS timestamptz[]),
                CAST(:tos AS timestamptz[]), CAST(:slas AS float8[]), CAST(:business_slas AS bool[]),
                CAST(:details AS bool[]))
         WITH ORDINALITY AS p(tenant_id, tz, range_from, range_to, sla, business_sla, details, idx)
    CROSS JOIN LATERAL (
        SELECT (p.range_from AT TIME ZONE p.tz)::date AS first_day,
               ((p.range_to - interval '1 microsecond') AT TIME ZONE p.tz)::date AS last_day
    ) AS f
),
-- One row per tenant day: rows are read one index range per day, so a row's day is known
-- without a time zone conversion (or any work) per row.
days AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.sla, p.business_sla, p.details, p.first_day + g.n AS day,
           p.day_bounds[g.n + 1] AS day_from, p.day_bounds[g.n + 2] AS day_to
    FROM params p
    CROSS JOIN LATERAL generate_series(0, p.days - 1) AS g(n)
),
-- The business clock of each request: from the day before the range (or now) to the day after
-- its end (or now).
span AS (
    SELECT p.idx, p.tenant_id, p.tz,
           (least(p.range_from, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date - 1 AS first_day,
           (greatest(p.range_to, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date + 1 AS last_day
    FROM params p
),
{business_clock_ctes("span")},
lead_facts AS (
    SELECT d.idx, d.tenant_id, d.sla, d.business_sla, d.details, d.day, l.*
    FROM days d
    CROSS JOIN LATERAL (
        SELECT l.id, l.contact_id, l.source, l.created_at, a.attempt_at, k.contact_at,
               l.booked_at >= l.created_at AS booked,
               a.attempt_at IS NOT NULL AS attempted,
               k.contact_at IS NOT NULL AS contacted,
               r.response_at IS NOT NULL AS answered,
               date_part('epoch', l.created_at) AS created_epoch,
               -- Until the first attempt or, while unattempted, until now.
               date_part('epoch', coalesce(a.attempt_at, CAST(:now AS timestamptz))) AS until_epoch,
               date_part('epoch', coalesce(r.response_at, CAST(:now AS timestamptz))) AS response_epoch,
               date_part('epoch', coalesce(k.contact_at, CAST(:now AS timestamptz))) AS contact_epoch
        FROM leads l
        -- Calls before the lead's creation never count for it.
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END AS attempt_at
        ) AS a
        -- First contact: the first connected call either way.
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.first_connected_at >= l.created_at THEN l.first_connected_at END AS contact_at
        ) AS k
        -- The SLA counts the first attempt or the first conversation, whichever came first.
        CROSS JOIN LATERAL (SELECT LEAST(a.attempt_at, k.contact_at) AS response_at) AS r
        WHERE l.tenant_id = d.tenant_id AND l.created_at >= d.day_from AND l.created_at < d.day_to
        -- An index range per day (a join here may be planned as one scan of all the tenant's leads).
        OFFSET 0
    ) AS l
),
lead_clock AS (
    SELECT f.*, k.bounds, k.cums,
           width_bucket(f.created_epoch, k.bounds) AS created_bucket,
           width_bucket(f.until_epoch, k.bounds) AS until_bucket,
           width_bucket(f.contact_epoch, k.bounds) AS contact_bucket
    FROM lead_facts f
    LEFT JOIN business_clock k ON k.idx = f.idx
    -- Keeps the buckets computed once per row, not once per use below.
    OFFSET 0
),
lead_rows AS MATERIALIZED (
    SELECT c.idx, c.tenant_id, c.details, c.day, c.id, c.contact_id, c.source, c.created_at, c.attempt_at,
           c.contact_at,
           coalesce(c.booked, false) AS booked, c.attempted, c.contacted,
           CASE WHEN c.attempted THEN c.until_epoch - c.created_epoch END AS speed,
           -- Business seconds to the attempt or, while unattempted, to now.
           {open_seconds_at("c", "until_epoch", "until_bucket")}
               - {open_seconds_at("c", "created_epoch", "created_bucket")} AS business,
           CASE WHEN c.contacted THEN c.contact_epoch - c.created_epoch END AS contact_speed,
           {open_seconds_at("c", "contact_epoch", "contact_bucket")}
               - {open_seconds_at("c", "created_epoch", "created_bucket")} AS contact_business,
           {sla_state("c.answered", "c.response_epoch", "dl.sla_deadline", _NOW_EPOCH)} AS speed_state,
           {sla_state("c.answered", "c.response_epoch", "dl.business_deadline", _NOW_EPOCH)} AS business_state,
           {sla_state("c.contacted", "c.contact_epoch", "dl.sla_deadline", _NOW_EPOCH)} AS contact_state,
           {sla_state("c.contacted", "c.contact_epoch", "dl.business_deadline", _NOW_EPOCH)}
               AS contact_business_state
    FROM lead_clock c
    {deadlines_lateral("c", "created_epoch", "created_bucket", "c.sla", "c.business_sla")} AS dl
),
lead_totals AS (
    SELECT idx AS lead_idx,
        count(*) AS leads,
        count(*) FILTER (WHERE attempted) AS attempted,
        count(*) FILTER (WHERE contacted) AS contacted,
        count(*) FILTER (WHERE contact_state = 1) AS contacted_within,
        {_speed_aggregates("speed", "speed", "attempted", "speed_state")},
        {_speed_aggregates("business", "business", "attempted", "business_state")},
        {_speed_aggregates("contact", "contact_speed", "contacted", "contact_state")},
        {_speed_aggregates("contact_business", "contact_business", "contacted", "contact_business_state")}
    FROM lead_rows
    GROUP BY idx
),
lead_days AS MATERIALIZED (
    SELECT idx, day, count(*) AS leads, percentile_cont(0.5) WITHIN GROUP (ORDER BY speed) AS speed_median
    FROM lead_rows
    GROUP BY idx, day
),
call_days AS MATERIALIZED (
    SELECT d.idx, d.day, c.*
    FROM days d
    CROSS JOIN LATERAL (
        SELECT count(*) AS calls,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL) AS connected,
               count(*) FILTER (WHERE c.connected_at IS NOT NULL AND c.booked) AS booked,
               count(*) FILTER (WHERE c.direction = 'outbound') AS outbound,
               count(*) FILTER (WHERE c.direction = 'outbound' AND c.connected_at IS NOT NULL) AS outbound_connected
        FROM calls c
        WHERE c.tenant_id = d.tenant_id AND c.started_at >= d.day_from AND c.started_at < d.day_to
            -- Legs of one customer call: only the primary leg counts.
            AND c.is_primary_leg
    ) AS c
),
call_totals AS (
    SELECT idx AS call_idx, sum(calls) AS calls, sum(connected) AS connected, sum(booked) AS booked,
           sum(outbound) AS outbound, sum(outbound_connected) AS outbound_connected
    FROM call_days
    GROUP BY idx
),
-- Breakdowns, for the requests with `details` only. Calls are read one index range per day, like
-- the base figures, so the planner knows their number and aggregates them by hashing.
range_calls AS MATERIALIZED (
    SELECT d.idx, d.tenant_id, c.*
    FROM days d
    CROSS JOIN LATERAL (
        SELECT c.contact_id, c.direction, c.status, c.started_at, c.connected_at, c.ended_at, c.booked,
               c.agent_id
        FROM calls c
        WHERE c.tenant_id = d.tenant_id AND c.started_at >= d.day_from AND c.started_at < d.day_to
            AND c.is_primary_leg
        OFFSET 0
    ) AS c
    WHERE d.details
),
-- Outbound calls since each such tenant's earliest range start: attempts and callbacks count after
-- the range's end too.
detail_tenants AS (
    SELECT tenant_id, min(range_from) AS since FROM params WHERE details GROUP BY tenant_id
),
outbound_calls AS MATERIALIZED (
    SELECT t.tenant_id, c.*
    FROM detail_tenants t
    CROSS JOIN LATERAL (
        SELECT c.contact_id, c.started_at, c.agent_id
        FROM calls c
        WHERE c.tenant_id = t.tenant_id AND c.started_at >= t.since AND c.is_primary_leg
            AND c.direction = 'outbound'
        OFFSET 0
    ) AS c
),
-- (Filtered here rather than joined to params, so the planner expects as many rows as there are.)
detail_leads AS (
    SELECT idx, id, contact_id, created_at, attempt_at, contact_at, contacted, speed, tenant_id
    FROM lead_rows
    WHERE details
),
-- Each lead's outbound calls from its creation: its attempts up to its first contact (all of them
-- while never reached), and the agent of its first attempt (its call at `attempt_at`; the lowest
-- agent id if two started at once). One hash join of the range's leads to the calls.
lead_attempts AS MATERIALIZED (
    SELECT l.idx, l.id, l.contacted, l.speed,
           count(c.started_at) FILTER (WHERE c.started_at <= coalesce(l.contact_at, 'infinity')) AS attempts,
           min(c.agent_id) FILTER (WHERE c.started_at = l.attempt_at) AS first_agent
    FROM detail_leads l
    LEFT JOIN outbound_calls c ON c.tenant_id = l.tenant_id AND c.contact_id = l.contact_id
        AND c.started_at >= l.created_at
    GROUP BY l.idx, l.id, l.contacted, l.speed
),
attempt_totals AS (
    SELECT idx AS attempt_idx,
        avg(attempts) FILTER (WHERE contacted) AS attempts_avg,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY attempts) FILTER (WHERE contacted) AS attempts_median,
        {_NEVER_REACHED}
    FROM lead_attempts
    GROUP BY idx
),
agent_calls AS (
    SELECT idx, agent_id,
        count(*) FILTER (WHERE direction = 'outbound') AS attempts,
        count(*) FILTER (WHERE direction = 'outbound' AND connected_at IS NOT NULL) AS connects,
        count(*) FILTER (WHERE connected_at IS NOT NULL) AS connected,
        count(*) FILTER (WHERE connected_at IS NOT NULL AND booked) AS bookings
    FROM range_calls
    WHERE agent_id IS NOT NULL
    GROUP BY idx, agent_id
),
-- Apart from the counts, which need no sort: only talked calls are sorted.
agent_talk AS (
    SELECT idx, agent_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY talk) AS talk_median
    FROM (
        SELECT idx, agent_id, date_part('epoch', ended_at - connected_at) AS talk
        FROM range_calls
        WHERE agent_id IS NOT NULL AND ended_at >= connected_at
    ) AS t
    GROUP BY idx, agent_id
),
agent_leads AS (
    SELECT idx, first_agent AS agent_id, count(*) AS leads,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY speed) AS speed_median
    FROM lead_attempts
    WHERE first_agent IS NOT NULL
    GROUP BY idx, first_agent
),
agent_rows AS MATERIALIZED (
    SELECT coalesce(ac.idx, al.idx) AS idx, coalesce(ac.agent_id, al.agent_id) AS agent_id,
           coalesce(ac.attempts, 0) AS attempts, coalesce(al.leads, 0) AS leads, al.speed_median,
           coalesce(ac.connects, 0) AS connects, coalesce(ac.connected, 0) AS connected,
           coalesce(ac.bookings, 0) AS bookings, at.talk_median
    FROM agent_calls ac
    FULL JOIN agent_leads al ON al.idx = ac.idx AND al.agent_id = ac.agent_id
    LEFT JOIN agent_talk at ON at.idx = ac.idx AND at.agent_id = ac.agent_id
),
-- Inbound calls of the range that were missed, each with the next outbound call to the same
-- contact (its callback), by a hash join.
missed_calls AS (
    SELECT m.idx, m.status, date_part('epoch', min(o.started_at) - m.started_at) AS callback_seconds
    FROM range_calls m
    LEFT JOIN outbound_calls o ON o.tenant_id = m.tenant_id AND o.contact_id = m.contact_id
        AND o.started_at > m.started_at
    WHERE m.direction = 'inbound' AND m.status IN ('missed', 'abandoned', 'voicemail')
    GROUP BY m.idx, m.contact_id, m.started_at, m.status
),
missed_totals AS (
    SELECT idx AS missed_idx, count(*) AS missed_total,
        count(*) FILTER (WHERE status = 'missed') AS missed_missed,
        count(*) FILTER (WHERE status = 'abandoned') AS missed_abandoned,
        count(*) FILTER (WHERE status = 'voicemail') AS missed_voicemail,
        count(callback_seconds) AS called_back,
        percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY callback_seconds) AS callback_percentiles
    FROM missed_calls
    GROUP BY idx
),
source_rows AS MATERIALIZED (
    SELECT r.idx, r.source, count(*) AS leads,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY speed) AS speed_median,
        count(*) FILTER (WHERE speed_state = 1) AS within_sla,
        count(*) FILTER (WHERE contacted) AS contacted,
        count(*) FILTER (WHERE booked) AS booked
    FROM lead_rows r
    WHERE r.details
    GROUP BY r.idx, r.source
)
SELECT p.idx, p.details, lt.*, ct.*, at.*, mt.*,
       (SELECT json_agg(json_build_array(cd.day, coalesce(ld.leads, 0), ld.speed_median,
                                         cd.calls, cd.connected, cd.booked) ORDER BY cd.day)
        FROM call_days cd
        LEFT JOIN lead_days ld ON ld.idx = cd.idx AND ld.day = cd.day
        WHERE cd.idx = p.idx) AS trend,
       (SELECT json_agg(json_build_array(a.agent_id, a.attempts, a.leads, a.speed_median, a.connects,
                                         a.connected, a.bookings, a.talk_median) ORDER BY a.agent_id)
        FROM agent_rows a WHERE a.idx = p.idx) AS agents,
       (SELECT json_agg(json_build_array(s.source, s.leads, s.speed_median, s.within_sla, s.contacted,
                                         s.booked) ORDER BY s.source)
        FROM source_rows s WHERE s.idx = p.idx) AS sources
FROM params p
LEFT JOIN lead_totals lt ON lt.lead_idx = p.idx
LEFT JOIN call_totals ct ON ct.call_idx = p.idx
LEFT JOIN attempt_totals at ON at.attempt_idx = p.idx
LEFT JOIN missed_totals mt ON mt.missed_idx = p.idx
ORDER BY p.idx
"""

METRICS_STATEMENT = text(_METRICS_SQL)

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
