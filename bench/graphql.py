"""GraphQL read latency on a large tenant: p50/p95 of a leads page and of lead(id) with its timeline.

Bulk-loads one tenant (default 100,000 leads, 4 calls each) with generate_series INSERTs, starts a
real uvicorn server in a child process, and times sequential requests from this process.

    .venv/bin/python bench/graphql.py --leads 10000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from calltrax.tokens import issue_token
from domain.roles import Role
from persistence import tenants as tenant_store
from persistence import users as user_store

# Run as a script (`python bench/graphql.py`): the repository root holds the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.seeding import STORED_STAGES
from bench.server import free_port
from persistence.db import create_engine
from persistence.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "x" * 40

LEADS_PAGE = """
query($t: ID) { leads(tenantId: $t, first: 50) { edges { node { contact { name } calls { status } } } } }
"""
LEAD_TIMELINE = """
query($id: ID!) { lead(id: $id) { id status stage speedToLeadSeconds contact { name phone }
  timeline { kind at call { status durationSeconds agent { name } } note { body } statusChange { toStatus } } } }
"""

SEED = """
WITH c AS (
    INSERT INTO contacts (tenant_id, phone, name, email)
    SELECT :t, '+1555' || lpad(i::text, 7, '0'), 'Person ' || i, 'person' || i || '@bench.test'
    FROM generate_series(1, :n) i
    RETURNING id, phone
), l AS (
    INSERT INTO leads (tenant_id, contact_id, source, status, created_at, first_attempt_at)
    SELECT :t, c.id, (ARRAY['webhook', 'facebook', 'google'])[1 + substr(c.phone, 5)::int % 3],
           (ARRAY['new', 'contacted', 'booked', 'closed'])[1 + substr(c.phone, 5)::int % 4],
           now() - (substr(c.phone, 5)::int * interval '77 seconds'),
           now() - (substr(c.phone, 5)::int * interval '77 seconds') + interval '95 seconds'
    FROM c
    RETURNING id, contact_id, created_at
)
INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, started_at, connected_at,
                   ended_at, duration_seconds, agent_name, disposition)
SELECT :t, l.id::text || '-' || k, l.id, l.contact_id, 'outbound',
       (ARRAY['completed', 'no_answer', 'voicemail', 'completed'])[k], l.created_at + k * interval '95 seconds',
       CASE WHEN k IN (1, 4) THEN l.created_at + k * interval '100 seconds' END,
       l.created_at + k * interval '160 seconds', CASE WHEN k IN (1, 4) THEN 60.5 END, 'Agent ' || k,
       CASE WHEN k = 4 THEN 'booked' END
FROM l, generate_series(1, :k) k
"""


async def ensure_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        exists = (
            await connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": parsed.database}
            )
        ).first()
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()


async def seed(url: str, leads: int, calls_per_lead: int) -> tuple[str, str, list[str]]:
    """The bench tenant (made once per size), an admin token, and a sample of lead ids."""
    engine = create_engine(url, pool_size=1)
    slug = f"bench-{leads}-{calls_per_lead}"
    async with engine.begin() as connection:
        tenant = await tenant_store.get_tenant_by_slug(connection, slug)
        if tenant is None:
            started = time.perf_counter()
            tenant = await tenant_store.insert_tenant(
                connection, name=f"Bench {leads}", slug=slug, timezone="UTC"
            )
            assert tenant is not None
            await connection.execute(text(SEED), {"t": tenant.id, "n": leads, "k": calls_per_lead})
            print(
                f"seeded {leads:,} leads and {leads * calls_per_lead:,} calls in {time.perf_counter() - started:.1f} s"
            )
        else:
            print(f"reusing tenant {slug}")
        user = await user_store.upsert_user(
            connection,
            user_id="bench-admin",
            email="bench-admin@bench.test",
            name=None,
            role=Role.ADMIN,
            tenant_id=None,
        )
    async with engine.begin() as connection:
        await connection.execute(STORED_STAGES, {"tenant": tenant.id})
        # Committed: statistics gathered by a rolled-back ANALYZE are thrown away with it.
        await connection.execute(text("ANALYZE contacts, leads, calls"))
        sample = (
            await connection.execute(
                text("SELECT id FROM leads WHERE tenant_id = :t ORDER BY random() LIMIT 500"),
                {"t": tenant.id},
            )
        ).all()
    await engine.dispose()
    token = issue_token(SECRET, subject=user.id, email=user.email, role="admin")
    return str(tenant.id), token, [str(row.id) for row in sample]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(
    http: httpx.AsyncClient, label: str, seconds: float, make: Any, warmup: int = 20
) -> dict[str, float]:
    async def once() -> float:
        payload = make()
        started = time.perf_counter()
        response = await http.post("/graphql", json=payload)
        elapsed = time.perf_counter() - started
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise SystemExit(f"{label}: {response.status_code} {body}")
        return elapsed * 1000

    for _ in range(warmup):
        await once()
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        timings.append(await once())
    result = {
        "n": len(timings),
        "p50": statistics.median(timings),
        "p95": percentile(timings, 0.95),
        "max": max(timings),
    }
    print(
        f"{label:<34} n={result['n']:>5}  p50={result['p50']:7.2f} ms  p95={result['p95']:7.2f} ms  max={result['max']:7.2f} ms"
    )
    return result


async def run_queries(base_url: str, token: str, tenant_id: str, lead_ids: list[str], seconds: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        for _ in range(200):
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        # The floor: one authenticated request that reads a single row (shows how loaded the machine is).
        await measure(http, "me (baseline: auth only)", seconds / 2, lambda: {"query": "{ me { id } }"})
        page = await measure(
            http,
            "leads(first: 50) contact+calls",
            seconds,
            lambda: {"query": LEADS_PAGE, "variables": {"t": tenant_id}},
        )
        await measure(
            http,
            "lead(id) with timeline",
            seconds,
            lambda: {"query": LEAD_TIMELINE, "variables": {"id": random.choice(lead_ids)}},
        )
        verdict = "meets" if page["p50"] < 30 else "MISSES"
        print(f"leads page p50 {page['p50']:.2f} ms {verdict} the 30 ms target")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_h5"),
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--calls-per-lead", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per query")
    args = parser.parse_args()

    asyncio.run(ensure_database(args.database_url))
    upgrade(args.database_url)
    tenant_id, token, lead_ids = asyncio.run(seed(args.database_url, args.leads, args.calls_per_lead))

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "CALLTRAX_JWT_SECRET": SECRET,
        "CALLTRAX_LOG_LEVEL": "WARNING",
        "CALLTRAX_DATA_DIR": f"/tmp/calltrax-bench-{secrets.token_hex(4)}",
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "uvicorn", "calltrax.app:app_from_env", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    print(
        f"tenant {tenant_id}: {args.leads:,} leads, {args.leads * args.calls_per_lead:,} calls; uvicorn pid {server.pid}"
    )
    try:
        asyncio.run(run_queries(f"http://127.0.0.1:{port}", token, tenant_id, lead_ids, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
