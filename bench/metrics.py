"""Metrics and pipeline at scale: bulk-generates tenants in SQL, then times the bare SQL and both
queries through a real uvicorn server (a separate process) in the same run.

Full size (the issue's target): one tenant with 100,000 leads and 500,000 calls, plus 20 noise
tenants holding the rest of 2,000,000 calls. `--scale 0.1` runs a tenth of that.

    .venv/bin/python bench/metrics.py --database-url postgresql://postgres@127.0.0.1:5432/bench_h8 \
        --scale 0.1 --seconds 5

Targets: the full metrics (the breakdowns by agent and source, attempts, missed calls and the
previous period) p50 < 150 ms and within 1.5x of the bare SQL it runs (printed side by side); the
overview of every tenant as before; pipeline p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seeding import STORED_STAGES
from calltrax.tokens import issue_token
from domain.business_hours import parse_hours
from domain.metrics import default_range, previous_range
from domain.tenants import DEFAULT_BUSINESS_HOURS
from persistence.db import create_engine
from persistence.metrics import METRICS_STATEMENT, MetricsRequest, agent_names, metrics_parameters
from persistence.migrate import upgrade

JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
BIG_SLUG = "bench-big"
NOISE_TENANTS = 20
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Australia/Sydney"]

SPEED = "averageSeconds medianSeconds p90Seconds attemptedLeads unattemptedLeads withinSla breached slaSeconds bands { label count }"
RATE = "numerator denominator value"
FIGURES = f"""
    leads speedToLead {{ {SPEED} }} businessHours {{ {SPEED} }}
    timeToFirstContact {{ {SPEED} }} businessHoursToFirstContact {{ {SPEED} }}
    connectionRate {{ {RATE} }} bookingRate {{ {RATE} }} leadResponseRate {{ {RATE} }} contactedWithinSla {{ {RATE} }}
    trend {{ day leads calls connected booked medianSpeedSeconds }}
    attemptsToContact {{ average median contactedLeads neverReached {{ attempts rate {{ {RATE} }} }} }}
    missedInbound {{ total missed abandoned voicemail calledBack {{ {RATE} }} callbackMedianSeconds callbackP90Seconds }}
    byAgent {{ agentId name email attempts leadsFirstAttempted medianSpeedSeconds connects
               connectionRate {{ {RATE} }} bookings bookingRate {{ {RATE} }} medianTalkSeconds }}
    bySource {{ source leads medianSpeedSeconds withinSla contacted booked bookingRate {{ {RATE} }}
                costPerLead spend costPerBooking }}
"""
# What the metrics query asked before issue 17 (and what each tenant of the overview reads): the
# full metrics' cost is also printed as a multiple of it.
BASE_QUERY = f"""
query ($tenantId: ID!) {{
  metrics(tenantId: $tenantId) {{
    leads speedToLead {{ {SPEED} }} businessHours {{ {SPEED} }}
    connectionRate {{ {RATE} }} bookingRate {{ {RATE} }} leadResponseRate {{ {RATE} }}
    trend {{ day leads calls connected booked medianSpeedSeconds }}
  }}
}}
"""
# The previous period with every figure (breakdowns too), or only the headline figures a
# dashboard compares (`--previous headline`).
HEADLINE = f"leads speedToLead {{ {SPEED} }} contactedWithinSla {{ {RATE} }} connectionRate {{ {RATE} }} bookingRate {{ {RATE} }}"


def metrics_query(previous: str) -> str:
    inner = FIGURES if previous == "full" else HEADLINE
    return f"query ($tenantId: ID!) {{ metrics(tenantId: $tenantId) {{ {FIGURES} previous {{ {inner} }} }} }}"


OVERVIEW_QUERY = f"""
query {{
  tenants {{ slug metrics {{ leads speedToLead {{ {SPEED} }} connectionRate {{ {RATE} }} bookingRate {{ {RATE} }} }} }}
}}
"""
PIPELINE_QUERY = """
query ($tenantId: ID!) {
  pipeline(tenantId: $tenantId) {
    columns { stage title count leads(first: 20) { edges { cursor node { id createdAt status } } pageInfo { hasNextPage } } }
  }
}
"""


# --- data ----------------------------------------------------------------------------------------

_CONTACTS = text(
    "INSERT INTO contacts (tenant_id, phone) "
    "SELECT :tenant, '+1' || (2000000000 + g)::text FROM generate_series(1, :leads) AS g"
)
_LEADS = text(
    """
    INSERT INTO leads (tenant_id, contact_id, created_at, source)
    SELECT c.tenant_id, c.id, now() - random() * make_interval(days => :days),
           (ARRAY['google', 'facebook', 'referral', 'website'])[1 + abs(hashtext(c.id::text)) % 4]
    FROM contacts c WHERE c.tenant_id = :tenant
    """
)
# One lead in ten is never called; the rest get calls to reach the target count. A call is
# outbound 80% of the time, 5% start before the lead (they must not count), 10% are secondary legs,
# 40% connect, a quarter of those book. The first comes after an exponential delay (mean 15 min).
# One of 8 agents places or takes each call; an inbound call that did not connect was missed,
# abandoned or went to voicemail (a third each); a connected call talks for 1 to 10 minutes.
_CALLS = text(
    """
    INSERT INTO calls (tenant_id, external_id, contact_id, lead_id, direction, status, started_at,
                       connected_at, ended_at, booked, disposition, is_primary_leg, agent_id,
                       agent_name, agent_email)
    SELECT l.tenant_id, l.id::text || '-' || g.n, l.contact_id, l.id,
           CASE WHEN x.r_direction < 0.8 THEN 'outbound' ELSE 'inbound' END,
           CASE WHEN x.r_connect < 0.4 THEN 'completed' WHEN x.r_direction < 0.8 THEN 'no_answer'
                ELSE (ARRAY['missed', 'abandoned', 'voicemail'])[1 + floor(x.r_agent * 3)::int] END,
           x.started,
           CASE WHEN x.r_connect < 0.4 THEN x.started + interval '12 seconds' END,
           x.started + CASE WHEN x.r_connect < 0.4 THEN (72 + x.r_agent * 540) * interval '1 second'
                            ELSE interval '30 seconds' END,
           x.r_connect < 0.1,
           CASE WHEN x.r_connect < 0.1 THEN 'booked' END,
           x.r_leg < 0.9,
           'agent-' || floor(x.r_agent * 8)::int,
           'Agent ' || floor(x.r_agent * 8)::int,
           'agent' || floor(x.r_agent * 8)::int || '@bench.example'
    FROM leads l
    CROSS JOIN generate_series(1, :per_lead) AS g(n)
    CROSS JOIN LATERAL (
        SELECT least(now(), CASE
                   WHEN random() < 0.05 THEN l.created_at - random() * interval '1 day'
                   ELSE l.created_at + (g.n - 1) * random() * interval '2 days'
                        + (-ln(1 - random()) * 900) * interval '1 second' END) AS started,
               random() AS r_direction, random() AS r_connect, random() AS r_leg, random() AS r_keep,
               random() AS r_agent
        WHERE g.n > 0
    ) AS x
    WHERE l.tenant_id = :tenant AND abs(hashtext(l.id::text)) % 10 <> 0 AND x.r_keep < :keep
    """
)
# What call processing maintains: first outbound primary call at/after creation, first connect;
# and what the SLA sweep would have stamped by now (else the server under test spends the run
# catching up on a backlog of alerts for the generated history).
_DERIVE = text(
    """
    UPDATE leads l SET first_attempt_at = f.first_attempt, first_connected_at = f.first_connected,
        sla_breached_at = CASE WHEN f.first_attempt IS NULL AND l.created_at < now() - interval '300 seconds'
                               THEN l.created_at + interval '300 seconds' END,
        status = CASE
            WHEN l.created_at > now() - interval '3 days' THEN
                CASE WHEN f.first_attempt IS NULL THEN 'new' ELSE 'contacted' END
            WHEN abs(hashtext(l.id::text)) % 20 < 12 THEN 'closed'
            WHEN abs(hashtext(l.id::text)) % 20 < 15 THEN 'booked'
            ELSE 'contacted' END
    FROM (
        SELECT l2.id,
               min(c.started_at) FILTER (WHERE calltrax_is_attempt(c.contact_id, c.direction, c.is_primary_leg,
                                                                   c.started_at, l2.contact_id, l2.created_at))
                   AS first_attempt,
               min(c.connected_at) AS first_connected
        FROM leads l2
        LEFT JOIN calls c ON c.contact_id = l2.contact_id AND c.started_at >= l2.created_at AND c.is_primary_leg
        WHERE l2.tenant_id = :tenant
        GROUP BY l2.id
    ) AS f
    WHERE l.id = f.id
    """
)


async def _make_tenant(connection: AsyncConnection, slug: str, zone: str) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    await connection.execute(
        text("INSERT INTO tenants (id, name, slug, timezone) VALUES (:id, :name, :slug, :zone)"),
        {"id": tenant_id, "name": slug, "slug": slug, "zone": zone},
    )
    return tenant_id


async def _fill(connection: AsyncConnection, tenant_id: uuid.UUID, leads: int, calls: int, days: int) -> None:
    attempted = max(1.0, 0.9 * leads)
    per_lead = max(1, math.ceil(calls / attempted))
    keep = calls / (attempted * per_lead)
    params = {"tenant": tenant_id, "leads": leads, "days": days, "per_lead": per_lead, "keep": keep}
    # Bulk rows with the attempt-facts triggers off (one refresh per call row would take an hour),
    # then the facts from the triggers' own functions, per tenant.
    await connection.execute(text("SET LOCAL session_replication_role = replica"))
    for statement in (_CONTACTS, _LEADS, _CALLS, _DERIVE, STORED_STAGES):
        await connection.execute(statement, params)
    await connection.execute(text("SELECT calltrax_backfill_facts(:tenant)"), params)
    await connection.execute(text("SET LOCAL session_replication_role = origin"))


async def generate(engine: AsyncEngine, args: argparse.Namespace) -> uuid.UUID:
    big_leads = int(100_000 * args.scale)
    big_calls = int(500_000 * args.scale)
    noise_scale = args.scale if args.noise_scale is None else args.noise_scale
    noise_calls = int((2_000_000 - 500_000) * noise_scale / NOISE_TENANTS)
    noise_leads = noise_calls // 5
    started = time.perf_counter()
    async with engine.begin() as connection:
        tables = "events, call_events, calls, lead_notes, lead_status_changes, leads, contacts, lead_webhooks, agent_assignments, users, tenants"
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        big = await _make_tenant(connection, BIG_SLUG, "America/New_York")
        await _fill(connection, big, big_leads, big_calls, args.days)
        for number in range(NOISE_TENANTS):
            noise = await _make_tenant(connection, f"bench-noise-{number}", ZONES[number % len(ZONES)])
            await _fill(connection, noise, noise_leads, noise_calls, args.days)
        await connection.execute(
            text("INSERT INTO users (id, email, role) VALUES ('bench-admin', 'bench@example.com', 'admin')")
        )
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE"))
        counts = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM calls),"
                    " (SELECT count(*) FROM leads l JOIN tenants t ON t.id = l.tenant_id WHERE t.slug = :slug),"
                    " (SELECT count(*) FROM calls c JOIN tenants t ON t.id = c.tenant_id WHERE t.slug = :slug)"
                ),
                {"slug": BIG_SLUG},
            )
        ).one()
    print(
        f"generated in {time.perf_counter() - started:.1f} s: {counts[0]:,} leads, {counts[1]:,} calls in all; "
        f"the measured tenant has {counts[2]:,} leads and {counts[3]:,} calls over {args.days} days"
    )
    return big


async def existing_tenant(engine: AsyncEngine) -> uuid.UUID | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(text("SELECT id FROM tenants WHERE slug = :slug"), {"slug": BIG_SLUG})
        ).first()
    return row.id if row else None


# --- timing ----------------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    samples: list[float]

    def line(self) -> str:
        ordered = sorted(self.samples)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
        return (
            f"{self.name:<28} n={len(ordered):>5}  p50={statistics.median(ordered) * 1000:7.1f} ms"
            f"  p95={p95 * 1000:7.1f} ms  mean={statistics.fmean(ordered) * 1000:7.1f} ms"
        )

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


async def repeat(name: str, seconds: float, action: Callable[[], Awaitable[None]]) -> Timing:
    for _ in range(3):  # warm caches and the pool
        await action()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return Timing(name, samples)


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    code = (
        "import uvicorn\n"
        "from calltrax.app import create_app\n"
        "from calltrax.settings import Settings\n"
        f"app = create_app(Settings(database_url={database_url!r}, jwt_secret={JWT_SECRET!r}, log_level='WARNING'))\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)\n"
    )
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)}
    )


async def wait_ready(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"{base_url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def main(args: argparse.Namespace) -> None:
    url = args.database_url
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, pool_size=2)
    tenant_id = await existing_tenant(engine) if args.reuse else None
    if tenant_id is None:
        tenant_id = await generate(engine, args)

    now = datetime.now(UTC)
    window = default_range(now, "America/New_York")
    request = MetricsRequest(
        tenant_id=tenant_id,
        timezone="America/New_York",
        range_from=window.range_from,
        range_to=window.range_to,
        sla_seconds=300,
        hours=parse_hours(DEFAULT_BUSINESS_HOURS),
        details=True,
    )
    before = previous_range(window.range_from, window.range_to, "America/New_York")
    previous = dataclasses.replace(
        request, range_from=before.range_from, range_to=before.range_to, details=args.previous == "full"
    )
    params = metrics_parameters([request, previous], now)

    async def bare_sql() -> None:
        # What the service sends for one tenant's full metrics (the range and the previous period in
        # one statement, then each one's agents' names), on a pooled connection, nothing around it.
        async with engine.connect() as connection:
            await connection.execute(text("SET LOCAL jit = off"))
            rows = (await connection.execute(METRICS_STATEMENT, params)).all()
            for asked, row in zip((request, previous), rows, strict=True):
                if not asked.details:
                    continue
                agent_ids = [agent[0] for agent in row.agents or ()]
                await agent_names(connection, tenant_id, agent_ids, since=asked.range_from)

    if args.explain:
        async with engine.connect() as connection:
            plan = await connection.execute(
                text("EXPLAIN (ANALYZE, BUFFERS) " + METRICS_STATEMENT.text), params
            )
            print("\n".join(row[0] for row in plan))

    port = args.port
    server = start_server(url, port)
    base_url = f"http://127.0.0.1:{port}"
    token = issue_token(JWT_SECRET, subject="bench-admin", email="bench@example.com", role="admin")
    results: list[Timing] = []
    try:
        await wait_ready(base_url)
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:

            def post(query: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    response = await http.post(
                        "/graphql", json={"query": query, "variables": {"tenantId": str(tenant_id)}}
                    )
                    body: dict[str, Any] = response.json()
                    if response.status_code != 200 or body.get("errors"):
                        raise RuntimeError(f"{response.status_code}: {body}")

                return run

            # Alternating rounds, so a drift in the machine's speed hits both alike.
            bare = Timing("full metrics: bare SQL", [])
            graph = Timing("full metrics: GraphQL", [])
            base = Timing("base metrics: GraphQL", [])
            for _ in range(args.rounds):
                base.samples += (
                    await repeat(base.name, args.seconds / args.rounds, post(BASE_QUERY))
                ).samples
                bare.samples += (await repeat(bare.name, args.seconds / args.rounds, bare_sql)).samples
                graph.samples += (
                    await repeat(graph.name, args.seconds / args.rounds, post(metrics_query(args.previous)))
                ).samples
            results += [bare, graph, base]
            if not args.skip_pipeline:
                results.append(
                    await repeat("pipeline: GraphQL via uvicorn", args.seconds, post(PIPELINE_QUERY))
                )
            # An admin overview: every tenant's metrics, one metrics statement for the batch.
            overview = f"overview: {NOISE_TENANTS + 1} x Tenant.metrics"
            results.append(await repeat(overview, args.seconds, post(OVERVIEW_QUERY)))
    finally:
        server.terminate()
        server.wait(timeout=10)
        await engine.dispose()

    print(f"range: the last 30 tenant days, {window.range_from.isoformat()} .. {window.range_to.isoformat()}")
    print(f"previous period: {args.previous} figures")
    for timing in results:
        print(timing.line())
    bare, graph = results[0], results[1]
    print(
        f"full metrics GraphQL p50 {graph.p50 * 1000:.1f} ms / bare SQL p50 {bare.p50 * 1000:.1f} ms"
        f" = {graph.p50 / bare.p50:.2f}x (target <= 1.5x, p50 < 150 ms)"
    )
    print(
        f"full metrics GraphQL p50 / base metrics GraphQL p50 = {graph.p50 / results[2].p50:.2f}x"
        " (base: the figures before issue 17, 40 ms on the quiet machine of README)"
    )
    print(f"load average now: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    if not args.skip_pipeline:
        print(f"pipeline p50 = {results[3].p50 * 1000:.1f} ms (target < 50 ms)")


async def ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    async with admin.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        exists = (
            await autocommit.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
        ).first()
        if not exists:
            await autocommit.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_metrics"),
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 100k leads / 500k calls / 2M calls in all"
    )
    parser.add_argument(
        "--noise-scale", type=float, default=None, help="the noise tenants' scale (default: --scale)"
    )
    parser.add_argument("--days", type=int, default=180, help="leads spread over this many days before now")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of bare SQL and GraphQL")
    parser.add_argument(
        "--previous",
        choices=("full", "headline"),
        default="full",
        help="the previous period with every figure, or its headline figures only",
    )
    parser.add_argument("--port", type=int, default=18808)
    parser.add_argument("--reuse", action="store_true", help="keep the data a previous run generated")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the metrics statement"
    )
    parser.add_argument("--skip-pipeline", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
