"""The business clock in SQL: open seconds up to an instant, and the SLA deadline (one home for both).

A tenant's clock lists every open interval of its weekly hours, in its timezone, over a span of
tenant days, holidays left out (closed all day). Each bound is `(day + wall time) AT TIME ZONE tz`,
so a 23- or 25-hour day is right. As arrays per span: bounds = [open1, close1, open2, close2, ...]
in epoch seconds and cums[i] = open seconds before bounds[i], so

- B(t), the open seconds from the clock's start up to instant t, is one binary search
  (`width_bucket(t, bounds)`) and a subtraction, whatever the gap;
- the business SLA deadline of a lead is the last instant t with B(t) - B(created) <= SLA: the
  interval where B reaches B(created) + SLA is `width_bucket(target, cums)` (the last one when
  B stays flat over a closed gap, so a deadline landing on a close moves to the next open); beyond
  the clock's end it is +infinity (the SLA cannot have run out yet);
- the wall-clock deadline is created + SLA. Which one applies is the tenant's SLA clock
  (`domain.tenants.SlaClock`), and a lead's SLA state is read against it in one place:
  `sla_state` below. Metrics (`persistence/metrics.py`) and the SLA sweep (`persistence/sla.py`)
  both use these fragments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from domain.business_hours import WeeklyHours


@dataclass(frozen=True)
class TenantClock:
    """What a tenant's business clock is made of."""

    tenant_id: UUID
    hours: WeeklyHours
    holidays: tuple[date, ...]


def clock_parameters(clocks: Iterable[TenantClock]) -> dict[str, Any]:
    """The bind parameters `business_clock_ctes` reads (each tenant once)."""
    unique = {clock.tenant_id: clock for clock in clocks}.values()
    schedule = [(clock.tenant_id, *row) for clock in unique for row in clock.hours.rows()]
    holidays = [(clock.tenant_id, day) for clock in unique for day in clock.holidays]
    return {
        "s_tenants": [row[0] for row in schedule],
        "s_dows": [row[1] for row in schedule],
        "s_opens": [row[2] for row in schedule],
        "s_closes": [row[3] for row in schedule],
        "h_tenants": [row[0] for row in holidays],
        "h_days": [row[1] for row in holidays],
    }


def business_clock_ctes(spans: str) -> str:
    """CTEs ending in `business_clock(idx, bounds, cums)`, one row per row of CTE `spans`
    (idx, tenant_id, tz, first_day, last_day: the tenant days the clock covers); none when the
    tenant is never open then."""
    return f"""
schedule AS (
    SELECT s.tenant_id, s.dow, s.opens, s.closes
    FROM unnest(CAST(:s_tenants AS uuid[]), CAST(:s_dows AS int[]), CAST(:s_opens AS int[]),
                CAST(:s_closes AS int[])) AS s(tenant_id, dow, opens, closes)
),
holidays AS (
    SELECT h.tenant_id, h.day
    FROM unnest(CAST(:h_tenants AS uuid[]), CAST(:h_days AS date[])) AS h(tenant_id, day)
),
open_intervals AS (
    SELECT sp.idx,
           date_part('epoch', (d.day + make_interval(mins => s.opens)) AT TIME ZONE sp.tz) AS opens,
           date_part('epoch', (d.day + make_interval(mins => s.closes)) AT TIME ZONE sp.tz) AS closes
    FROM {spans} sp
    CROSS JOIN LATERAL generate_series(0, sp.last_day - sp.first_day) AS g(n)
    CROSS JOIN LATERAL (SELECT sp.first_day + g.n AS day) AS d
    JOIN schedule s ON s.tenant_id = sp.tenant_id AND s.dow = extract(isodow FROM d.day)
    -- A holiday is closed all day.
    WHERE NOT EXISTS (SELECT FROM holidays h WHERE h.tenant_id = sp.tenant_id AND h.day = d.day)
),
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
)"""


def open_seconds_at(row: str, epoch: str, bucket: str) -> str:
    """B(t): open seconds from the clock's start to instant `row.epoch`, given `row.bucket` =
    width_bucket(epoch, bounds) and the clock's arrays on `row`; odd buckets lie inside an open
    interval."""
    cums, bounds, epoch, bucket = f"{row}.cums", f"{row}.bounds", f"{row}.{epoch}", f"{row}.{bucket}"
    return f"(coalesce({cums}[{bucket}], 0) + CASE WHEN {bucket} % 2 = 1 THEN {epoch} - {bounds}[{bucket}] ELSE 0 END)"


def deadlines_lateral(row: str, created_epoch: str, created_bucket: str, sla: str, business_sla: str) -> str:
    """A LATERAL join adding `business_deadline` and `sla_deadline` (epoch seconds) for the lead on
    `row`: the last instant within its SLA counting open seconds, and by its tenant's SLA clock
    (`business_sla` true: that one, else created + SLA)."""
    created_open = open_seconds_at(row, created_epoch, created_bucket)
    return f"""CROSS JOIN LATERAL (
        SELECT t.business_deadline,
               CASE WHEN {business_sla} THEN t.business_deadline ELSE {row}.{created_epoch} + {sla} END
                   AS sla_deadline
        FROM (
            SELECT CASE WHEN k.bucket % 2 = 1 THEN {row}.bounds[k.bucket] + k.target - {row}.cums[k.bucket]
                        -- Beyond the clock's end (or never open): not run out yet.
                        ELSE 'Infinity'::float8 END AS business_deadline
            FROM (SELECT x.target, width_bucket(x.target, {row}.cums) AS bucket
                  FROM (SELECT {created_open} + {sla} AS target) AS x) AS k
        ) AS t
    )"""


def sla_state(reached: str, reached_epoch: str, deadline: str, now_epoch: str) -> str:
    """1 within (reached by the deadline), 2 breached (reached later, or not reached and the
    deadline passed), 0 pending (not reached, deadline still ahead)."""
    return (
        f"CASE WHEN {reached} THEN CASE WHEN {reached_epoch} <= {deadline} THEN 1 ELSE 2 END "
        f"WHEN {now_epoch} > {deadline} THEN 2 ELSE 0 END"
    )
