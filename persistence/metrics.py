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

Business seconds: B(t) = seconds the tenant was open from the clock's start up to instant t, and a
lead's business speed is B(attempt) - B(created). The clock lists every open interval from the
day before the range (or now) to the day after its end (or now) as epoch seconds, exact across DST
since each bound is `(day + wall time) AT TIME ZONE tz`; B(t) is then a binary search
(`width_bucket`) and a subtraction, whatever the gap. An attempt stamped more than a day after the
clock's now stops counting at the clock's end (only a fake clock can do that).
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
    SPEED_BANDS,
    BandCount,
    Metrics,
    Rate,
    SpeedToLead,
    TrendDay,
)


@dataclass(frozen=True)
class MetricsRequest:
    tenant_id: UUID
    timezone: str
    range_from: datetime
    range_to: datetime
    sla_seconds: int
    hours: WeeklyHours


def _band_counts(column: str, prefix: str) -> str:
    return ",\n        ".join(
        f"count(*) FILTER (WHERE {column} = {index}) AS {prefix}{index}" for index in range(len(SPEED_BANDS))
    )


# width_bucket(seconds, thresholds) - 1 is the index of the band in SPEED_BANDS.
_BAND_THRESHOLDS = "ARRAY[" + ", ".join(str(band.lower_seconds) for band in SPEED_BANDS) + "]::float8[]"


def _open_seconds_at(row: str, epoch: str, bucket: str) -> str:
    """B(t): open seconds from the clock's start to instant `row.epoch`, given `row.bucket` =
    width_bucket(epoch, bounds); odd buckets lie inside an open interval."""
    cums, bounds, epoch, bucket = f"{row}.cums", f"{row}.bounds", f"{row}.{epoch}", f"{row}.{bucket}"
    return f"(coalesce({cums}[{bucket}], 0) + CASE WHEN {bucket} % 2 = 1 THEN {epoch} - {bounds}[{bucket}] ELSE 0 END)"


# Numbers in the text come from domain constants above, never from input.
_METRICS_SQL = f"""
WITH params AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.tz, p.range_from, p.range_to, p.sla, f.first_day,
           f.last_day - f.first_day + 1 AS days,
           -- Where each tenant day of the range starts, then the range's end.
           ARRAY(SELECT greatest(p.range_from, (f.first_day + g.n)::timestamp AT TIME ZONE p.tz)
                 FROM generate_series(0, f.last_day - f.first_day) AS g(n) ORDER BY g.n) || p.range_to AS day_bounds
    FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:tzs AS text[]), CAST(:froms AS timestamptz[]),
                CAST(:tos AS timestamptz[]), CAST(:slas AS float8[]))
         WITH ORDINALITY AS p(tenant_id, tz, range_from, range_to, sla, idx)
    CROSS JOIN LATERAL (
        SELECT (p.range_from AT TIME ZONE p.tz)::date AS first_day,
               ((p.range_to - interval '1 microsecond') AT TIME ZONE p.tz)::date AS last_day
    ) AS f
),
-- One row per tenant day: rows are read one index range per day, so a row's day is known
-- without a time zone conversion (or any work) per row.
days AS MATERIALIZED (
    SELECT p.idx, p.tenant_id, p.sla, p.first_day + g.n AS day,
           p.day_bounds[g.n + 1] AS day_from, p.day_bounds[g.n + 2] AS day_to
    FROM params p
    CROSS JOIN LATERAL generate_series(0, p.days - 1) AS g(n)
),
schedule AS (
    SELECT s.tenant_id, s.dow, s.opens, s.closes
    FROM unnest(CAST(:s_tenants AS uuid[]), CAST(:s_dows AS int[]), CAST(:s_opens AS int[]),
                CAST(:s_closes AS int[])) AS s(tenant_id, dow, opens, closes)
),
-- The business clock: each open interval from the day before the range (or now) to the day after
-- its end (or now), in epoch seconds, exact across DST through AT TIME ZONE.
span AS (
    SELECT p.idx, p.tenant_id, p.tz,
           (least(p.range_from, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date - 1 AS first_day,
           (greatest(p.range_to, CAST(:now AS timestamptz)) AT TIME ZONE p.tz)::date + 1 AS last_day
    FROM params p
),
open_intervals AS (
    SELECT sp.idx,
           date_part('epoch', (d.day + make_interval(mins => s.opens)) AT TIME ZONE sp.tz) AS opens,
           date_part('epoch', (d.day + make_interval(mins => s.closes)) AT TIME ZONE sp.tz) AS closes
    FROM span sp
    CROSS JOIN LATERAL generate_series(0, sp.last_day - sp.first_day) AS g(n)
    CROSS JOIN LATERAL (SELECT sp.first_day + g.n AS day) AS d
    JOIN schedule s ON s.tenant_id = sp.tenant_id AND s.dow = extract(isodow FROM d.day)
),
-- bounds = [open1, close1, open2, close2, ...] and cums[i] = open seconds before bounds[i], so
-- B(t) is one binary search, width_bucket(t, bounds), and a subtraction.
business_clock AS MATERIALIZED (
    SELECT o.idx, array_agg(b.at ORDER BY b.k) AS bounds, array_agg(b.open_before ORDER BY b.k) AS cums
    FROM (
        SELECT idx, opens, closes, row_number() OVER w AS rn,
               coalesce(sum(closes - opens) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   AS before
        FROM open_intervals
        WINDOW w AS (PARTITION BY idx ORDER BY opens)
    ) AS o
    CROSS JOIN LATERAL (
        VALUES (2 * o.rn - 1, o.opens, o.before), (2 * o.rn, o.closes, o.before + o.closes - o.opens)
    ) AS b(k, at, open_before)
    GROUP BY o.idx
),
lead_facts AS (
    SELECT d.idx, d.sla, d.day, l.*
    FROM days d
    CROSS JOIN LATERAL (
        SELECT coalesce(l.first_connected_at >= l.created_at, false) AS responded,
               -- Calls before the lead's creation never count for it.
               CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END AS attempt_at,
               date_part('epoch', l.created_at) AS created_epoch,
               -- Until the first attempt or, while unattempted, until now.
               date_part('epoch', CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at
                                       ELSE CAST(:now AS timestamptz) END) AS until_epoch,
               -- The SLA counts the first attempt or the first conversation, whichever came first.
               r.response_at IS NOT NULL AS answered,
               date_part('epoch', coalesce(r.response_at, CAST(:now AS timestamptz))) AS response_epoch
        FROM leads l
        CROSS JOIN LATERAL (
            SELECT LEAST(CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END,
                         CASE WHEN l.first_connected_at >= l.created_at THEN l.first_connected_at END) AS response_at
        ) AS r
        WHERE l.tenant_id = d.tenant_id AND l.created_at >= d.day_from AND l.created_at < d.day_to
        -- An index range per day (a join here may be planned as one scan of all the tenant's leads).
        OFFSET 0
    ) AS l
),
lead_clock AS (
    SELECT f.*, k.bounds, k.cums,
           width_bucket(f.created_epoch, k.bounds) AS created_bucket,
           width_bucket(f.until_epoch, k.bounds) AS until_bucket,
           width_bucket(f.response_epoch, k.bounds) AS response_bucket
    FROM lead_facts f
    LEFT JOIN business_clock k ON k.idx = f.idx
    -- Keeps the buckets computed once per row, not once per use below.
    OFFSET 0
),
lead_rows AS MATERIALIZED (
    SELECT x.idx, x.day, x.responded, x.attempted, x.speed, x.business,
           CASE WHEN x.response <= x.sla THEN 1 WHEN x.response > x.sla THEN 2 ELSE 0 END AS speed_state,
           CASE WHEN x.business_response <= x.sla THEN 1 WHEN x.business_response > x.sla THEN 2
                ELSE 0 END AS business_state,
           width_bucket(x.speed, {_BAND_THRESHOLDS}) - 1 AS speed_band,
           CASE WHEN x.attempted THEN width_bucket(x.business, {_BAND_THRESHOLDS}) - 1 END AS business_band
    FROM (
        SELECT c.idx, c.day, c.responded, c.sla, c.created_epoch, c.until_epoch,
               c.attempt_at IS NOT NULL AS attempted,
               CASE WHEN c.attempt_at IS NOT NULL THEN c.until_epoch - c.created_epoch END AS speed,
               -- Business seconds to the attempt or, while unattempted, to now.
               {_open_seconds_at("c", "until_epoch", "until_bucket")}
                   - {_open_seconds_at("c", "created_epoch", "created_bucket")} AS business,
               -- Seconds to the first attempt or conversation; while neither, the age (only its
               -- running past the SLA counts: breached).
               CASE WHEN c.answered OR c.response_epoch - c.created_epoch > c.sla
                   THEN c.response_epoch - c.created_epoch END AS response,
               CASE WHEN c.answered OR {_open_seconds_at("c", "response_epoch", "response_bucket")}
                   - {_open_seconds_at("c", "created_epoch", "created_bucket")} > c.sla
                   THEN {_open_seconds_at("c", "response_epoch", "response_bucket")}
                   - {_open_seconds_at("c", "created_epoch", "created_bucket")} END AS business_response
        FROM lead_clock c
    ) AS x
),
lead_totals AS (
    SELECT idx AS lead_idx,
        count(*) AS leads,
        count(*) FILTER (WHERE attempted) AS attempted,
        count(*) FILTER (WHERE responded) AS responded,
        avg(speed) AS speed_avg,
        -- One sort serves both percentiles.
        percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY speed) AS speed_percentiles,
        count(*) FILTER (WHERE speed_state = 1) AS speed_within,
        count(*) FILTER (WHERE speed_state = 2) AS speed_breached,
        {_band_counts("speed_band", "speed_band_")},
        avg(business) FILTER (WHERE attempted) AS business_avg,
        percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY business) FILTER (WHERE attempted)
            AS business_percentiles,
        count(*) FILTER (WHERE business_state = 1) AS business_within,
        count(*) FILTER (WHERE business_state = 2) AS business_breached,
        {_band_counts("business_band", "business_band_")}
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
)
SELECT p.idx, lt.*, ct.*,
       (SELECT json_agg(json_build_array(cd.day, coalesce(ld.leads, 0), ld.speed_median,
                                         cd.calls, cd.connected, cd.booked) ORDER BY cd.day)
        FROM call_days cd
        LEFT JOIN lead_days ld ON ld.idx = cd.idx AND ld.day = cd.day
        WHERE cd.idx = p.idx) AS trend
FROM params p
LEFT JOIN lead_totals lt ON lt.lead_idx = p.idx
LEFT JOIN call_totals ct ON ct.call_idx = p.idx
ORDER BY p.idx
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
    median, p90 = getattr(row, f"{prefix}_percentiles") or (None, None)
    return SpeedToLead(
        average_seconds=_float(getattr(row, f"{prefix}_avg")),
        median_seconds=_float(median),
        p90_seconds=_float(p90),
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
    # JIT is off for CallTrax's connections (persistence.db.create_engine): the planner's cost for
    # a batch of large tenants passes jit_above_cost, and compiling costs more than it saves.
    rows = (await connection.execute(METRICS_STATEMENT, metrics_parameters(requests, now))).all()
    answers = []
    for request, row in zip(requests, rows, strict=True):
        leads = _int(row.leads)
        attempted = _int(row.attempted)
        answers.append(
            Metrics(
                tenant_id=request.tenant_id,
                range_from=request.range_from,
                range_to=request.range_to,
                leads=leads,
                speed_to_lead=_speed(row, "speed", attempted, leads - attempted, request.sla_seconds),
                business_hours=_speed(row, "business", attempted, leads - attempted, request.sla_seconds),
                connection_rate=Rate(_int(row.outbound_connected), _int(row.outbound)),
                booking_rate=Rate(_int(row.booked), _int(row.connected)),
                lead_response_rate=Rate(_int(row.responded), leads),
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
            )
        )
    return answers
