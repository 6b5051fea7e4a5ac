"""Metric aggregates and the pipeline board, computed in PostgreSQL (never rows in Python).

Where lead facts come from: the derived columns on `leads` (`first_attempt_at`,
`first_connected_at`), which call processing maintains as calls arrive (DESIGN section 3:
"maintained by call processing so the metrics read one table"). Reading them is one index range
scan over the range's leads; recomputing from `calls` would join every lead to its contact's calls
since `from` (calls after `to` count too), several times the work. The two rules are still kept
here, defensively: an attempt or connection stamped before the lead's `created_at` is ignored
(`first_attempt_at >= created_at`), and call-based rates count primary legs only
(`is_primary_leg`), so a call with several legs counts once.

One statement per batch of (tenant, range) requests, so an overview of every tenant is one query:
- leads in [from, to) by `created_at`, with speed-to-lead in seconds and in business seconds,
  aggregated with GROUPING SETS into a total row and one row per tenant day;
- primary calls in [from, to) by `started_at`, aggregated the same way;
- joined onto the list of tenant days (`AT TIME ZONE` the tenant's zone) so empty days read 0.

Business seconds: B(t) = seconds the tenant was open from the start of the span up to instant t;
speed = B(attempt) - B(created). The span is cut into the tenant's local days; each day holds the
open seconds before it (a running sum) and its open intervals as real instants
(`(day + open time) AT TIME ZONE tz`, exact across DST), so B(t) = before(day of t) + the parts
of that day's intervals that precede t: two hash joins per lead, no per-lead series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.business_hours import MAX_INTERVALS_PER_DAY, WeeklyHours
from domain.leads import LeadStatus, PipelineStage
from domain.metrics import (
    SPEED_BANDS,
    BandCount,
    Metrics,
    Rate,
    SpeedToLead,
    TrendDay,
)
from domain.pipeline import StageWindow

_TOTAL = date.max  # the day key of the total row (SQL: DATE 'infinity')


@dataclass(frozen=True)
class MetricsRequest:
    tenant_id: UUID
    timezone: str
    range_from: datetime
    range_to: datetime
    sla_seconds: int
    hours: WeeklyHours


def _band_filters(column: str, prefix: str, extra: str = "") -> str:
    parts = []
    for index, band in enumerate(SPEED_BANDS):
        condition = f"{column} >= {band.lower_seconds}"
        if band.upper_seconds is not None:
            condition += f" AND {column} < {band.upper_seconds}"
        parts.append(f"count(*) FILTER (WHERE {extra}{condition}) AS {prefix}{index}")
    return ",\n        ".join(parts)


def _open_before(instant: str, day: str) -> str:
    """SQL for B(instant) given the business_days row `day` of the instant's local day."""
    terms = " + ".join(
        f"greatest(0, extract(epoch FROM least({instant}, {day}.closes[{k}]) - {day}.opens[{k}])::float8)"
        for k in range(1, MAX_INTERVALS_PER_DAY + 1)
    )
    return f"({day}.before + {terms})"


# Numbers in the text come from domain constants above, never from input.
_METRICS_SQL = f"""
WITH params AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.tz, p.range_from, p.range_to, p.sla
    FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:tzs AS text[]), CAST(:froms AS timestamptz[]),
                CAST(:tos AS timestamptz[]), CAST(:slas AS float8[]))
         WITH ORDINALITY AS p(tenant_id, tz, range_from, range_to, sla, idx)
),
schedule AS (
    SELECT s.tenant_id, s.dow, s.opens, s.closes
    FROM unnest(CAST(:s_tenants AS uuid[]), CAST(:s_dows AS int[]), CAST(:s_opens AS int[]),
                CAST(:s_closes AS int[])) AS s(tenant_id, dow, opens, closes)
),
lead_rows AS MATERIALIZED (
    SELECT p.idx, p.tz, p.sla, l.created_at,
           (l.created_at AT TIME ZONE p.tz)::date AS day,
           -- Calls before the lead's creation never count for it.
           CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END AS attempt_at,
           coalesce(l.first_connected_at >= l.created_at, false) AS responded
    FROM params p
    JOIN leads l ON l.tenant_id = p.tenant_id AND l.created_at >= p.range_from AND l.created_at < p.range_to
),
span AS (
    SELECT p.idx, p.tenant_id, p.tz,
           (least(p.range_from, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date - 1 AS first_day,
           (greatest(p.range_to, CAST(:now AS timestamptz), a.last_attempt) AT TIME ZONE p.tz)::date + 1 AS last_day
    FROM params p
    LEFT JOIN (SELECT idx, max(attempt_at) AS last_attempt FROM lead_rows GROUP BY idx) a USING (idx)
),
open_days AS (
    SELECT sp.idx, d.day,
           array_agg((d.day + make_interval(mins => s.opens)) AT TIME ZONE sp.tz ORDER BY s.opens) AS opens,
           array_agg((d.day + make_interval(mins => s.closes)) AT TIME ZONE sp.tz ORDER BY s.opens) AS closes,
           coalesce(sum(extract(epoch FROM ((d.day + make_interval(mins => s.closes)) AT TIME ZONE sp.tz)
                                          - ((d.day + make_interval(mins => s.opens)) AT TIME ZONE sp.tz))::float8), 0)
               AS open_seconds
    FROM span sp
    CROSS JOIN LATERAL generate_series(0, sp.last_day - sp.first_day) AS g(n)
    CROSS JOIN LATERAL (SELECT sp.first_day + g.n AS day) d
    LEFT JOIN schedule s ON s.tenant_id = sp.tenant_id AND s.dow = extract(isodow FROM d.day)
    GROUP BY sp.idx, d.day
),
business_days AS (
    SELECT idx, day, opens, closes,
           coalesce(sum(open_seconds) OVER (PARTITION BY idx ORDER BY day
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM open_days
),
speeds AS (
    SELECT r.idx, r.day, r.sla, r.responded,
           r.attempt_at IS NOT NULL AS attempted,
           extract(epoch FROM r.attempt_at - r.created_at)::float8 AS speed,
           extract(epoch FROM CAST(:now AS timestamptz) - r.created_at)::float8 AS age,
           -- Business seconds to the attempt, or (unattempted) to now.
           {_open_before("coalesce(r.attempt_at, CAST(:now AS timestamptz))", "be")}
               - {_open_before("r.created_at", "bc")} AS business
    FROM lead_rows r
    JOIN business_days bc ON bc.idx = r.idx AND bc.day = r.day
    JOIN business_days be ON be.idx = r.idx
        AND be.day = (coalesce(r.attempt_at, CAST(:now AS timestamptz)) AT TIME ZONE r.tz)::date
),
lead_groups AS (
    SELECT idx AS lg_idx, CASE WHEN GROUPING(day) = 1 THEN DATE 'infinity' ELSE day END AS lg_day,
        count(*) AS leads,
        count(*) FILTER (WHERE attempted) AS attempted,
        count(*) FILTER (WHERE responded) AS responded,
        avg(speed) AS speed_avg,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY speed) AS speed_median,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY speed) AS speed_p90,
        count(*) FILTER (WHERE speed <= sla) AS speed_within,
        count(*) FILTER (WHERE speed > sla OR (NOT attempted AND age > sla)) AS speed_breached,
        {_band_filters("speed", "speed_band_")},
        avg(business) FILTER (WHERE attempted) AS business_avg,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY business) FILTER (WHERE attempted) AS business_median,
        percentile_cont(0.9) WITHIN GROUP (ORDER BY business) FILTER (WHERE attempted) AS business_p90,
        count(*) FILTER (WHERE attempted AND business <= sla) AS business_within,
        count(*) FILTER (WHERE business > sla) AS business_breached,
        {_band_filters("business", "business_band_", "attempted AND ")}
    FROM speeds
    GROUP BY GROUPING SETS ((idx), (idx, day))
),
call_rows AS (
    SELECT p.idx, (c.started_at AT TIME ZONE p.tz)::date AS day, c.direction = 'outbound' AS outbound,
           c.connected_at IS NOT NULL AS connected, c.booked
    FROM params p
    JOIN calls c ON c.tenant_id = p.tenant_id AND c.started_at >= p.range_from AND c.started_at < p.range_to
        -- Legs of one customer call: only the primary leg counts.
        AND c.is_primary_leg
),
call_groups AS (
    SELECT idx AS cg_idx, CASE WHEN GROUPING(day) = 1 THEN DATE 'infinity' ELSE day END AS cg_day,
        count(*) AS calls,
        count(*) FILTER (WHERE connected) AS connected,
        count(*) FILTER (WHERE connected AND booked) AS booked,
        count(*) FILTER (WHERE outbound) AS outbound,
        count(*) FILTER (WHERE outbound AND connected) AS outbound_connected
    FROM call_rows
    GROUP BY GROUPING SETS ((idx), (idx, day))
),
day_keys AS (
    SELECT p.idx, (p.range_from AT TIME ZONE p.tz)::date + g.n AS day_key
    FROM params p
    CROSS JOIN LATERAL generate_series(
        0, ((p.range_to - interval '1 microsecond') AT TIME ZONE p.tz)::date - (p.range_from AT TIME ZONE p.tz)::date
    ) AS g(n)
    UNION ALL
    SELECT idx, DATE 'infinity' FROM params
)
SELECT k.idx, k.day_key, lg.*, cg.calls, cg.connected, cg.booked, cg.outbound, cg.outbound_connected
FROM day_keys k
LEFT JOIN lead_groups lg ON lg.lg_idx = k.idx AND lg.lg_day = k.day_key
LEFT JOIN call_groups cg ON cg.cg_idx = k.idx AND cg.cg_day = k.day_key
ORDER BY k.idx, k.day_key
"""

METRICS_STATEMENT = text(_METRICS_SQL)


def metrics_parameters(requests: Sequence[MetricsRequest], now: datetime) -> dict[str, Any]:
    """The bind parameters of METRICS_STATEMENT for a batch (exposed for the benchmark's bare SQL)."""
    schedule = [
        (request.tenant_id, *row)
        for request in {r.tenant_id: r for r in requests}.values()
        for row in request.hours.rows()
    ]
    return {
        "tenant_ids": [request.tenant_id for request in requests],
        "tzs": [request.timezone for request in requests],
        "froms": [request.range_from for request in requests],
        "tos": [request.range_to for request in requests],
        "slas": [float(request.sla_seconds) for request in requests],
        "s_tenants": [row[0] for row in schedule],
        "s_dows": [row[1] for row in schedule],
        "s_opens": [row[2] for row in schedule],
        "s_closes": [row[3] for row in schedule],
        "now": now,
    }


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _speed(row: Any, prefix: str, attempted: int, unattempted: int, sla: int) -> SpeedToLead:
    return SpeedToLead(
        average_seconds=_float(getattr(row, f"{prefix}_avg")),
        median_seconds=_float(getattr(row, f"{prefix}_median")),
        p90_seconds=_float(getattr(row, f"{prefix}_p90")),
        attempted_leads=attempted,
        unattempted_leads=unattempted,
        within_sla=_int(getattr(row, f"{prefix}_within")),
        breached=_int(getattr(row, f"{prefix}_breached")),
        sla_seconds=sla,
        bands=tuple(
            BandCount(band.label, _int(getattr(row, f"{prefix}_band_{index}")))
            for index, band in enumerate(SPEED_BANDS)
        ),
    )


async def tenant_metrics(
    connection: AsyncConnection, requests: Sequence[MetricsRequest], *, now: datetime
) -> list[Metrics]:
    """Metrics for each request, in request order, from one statement."""
    if not requests:
        return []
    result = await connection.execute(METRICS_STATEMENT, metrics_parameters(requests, now))
    by_request: dict[int, list[Any]] = {}
    for row in result:
        by_request.setdefault(int(row.idx), []).append(row)
    answers = []
    for index, request in enumerate(requests, start=1):
        rows = by_request[index]
        total = rows[-1]
        assert total.day_key == _TOTAL
        leads = _int(total.leads)
        attempted = _int(total.attempted)
        answers.append(
            Metrics(
                tenant_id=request.tenant_id,
                range_from=request.range_from,
                range_to=request.range_to,
                leads=leads,
                speed_to_lead=_speed(total, "speed", attempted, leads - attempted, request.sla_seconds),
                business_hours=_speed(total, "business", attempted, leads - attempted, request.sla_seconds),
                connection_rate=Rate(_int(total.outbound_connected), _int(total.outbound)),
                booking_rate=Rate(_int(total.booked), _int(total.connected)),
                lead_response_rate=Rate(_int(total.responded), leads),
                trend=tuple(
                    TrendDay(
                        day=row.day_key,
                        leads=_int(row.leads),
                        calls=_int(row.calls),
                        connected=_int(row.connected),
                        booked=_int(row.booked),
                        median_speed_seconds=_float(row.speed_median),
                    )
                    for row in rows[:-1]
                ),
            )
        )
    return answers


# --- pipeline ---------------------------------------------------------------------------------

_OPEN = tuple(status.value for status in (LeadStatus.NEW, LeadStatus.CONTACTED))

_PIPELINE_COUNTS = text(
    """
    SELECT count(*) FILTER (WHERE created_at > :edge1) AS follow_up_1,
           count(*) FILTER (WHERE created_at > :edge2 AND created_at <= :edge1) AS follow_up_2,
           count(*) FILTER (WHERE created_at > :edge3 AND created_at <= :edge2) AS follow_up_3,
           count(*) FILTER (WHERE created_at <= :edge3) AS follow_up_4
    FROM leads
    -- Spelled as the partial index ix_leads_open_by_tenant is, so the planner uses it.
    WHERE tenant_id = :tenant_id AND status IN ('new', 'contacted')
    """
)


async def pipeline_counts(
    connection: AsyncConnection, *, tenant_id: UUID, windows: Sequence[StageWindow]
) -> dict[PipelineStage, int]:
    """Open leads per column, in one index-only pass over the tenant's open leads."""
    edges = {f"edge{index}": window.created_after for index, window in enumerate(windows[:3], start=1)}
    row = (await connection.execute(_PIPELINE_COUNTS, {"tenant_id": tenant_id, **edges})).one()
    return {window.stage: int(getattr(row, window.stage.value)) for window in windows}
