"""GraphQL read latency on a large tenant: p50/p95 of a leads page and of lead(id) with its timeline.

Bulk-loads one tenant (default 100,000 leads, 4 calls each) with generate_series INSERTs, starts a
real uvicorn server in a child process, and times sequential requests from this process.

    .venv/bin/python bench/graphql.py --leads 10000 --seconds 5

With `--peer postgraphile` it installs PostGraphile 4 from npm into a scratch folder under /tmp,
serves the same database with it (production mode, one Node process), and drives the same pages
on both servers with the same load generator and connections (16), alternating, then prints both
figures and the ratio per page (docs/reads.md):

    .venv/bin/python bench/graphql.py --peer postgraphile --seconds 8 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


# The same pages for both servers: CallTrax's schema, and PostGraphile's generated one over the same
# tables (it has no auth, no tenant scope and no timeline: the lead page reads the same rows).
PEER_PAGES: dict[str, tuple[str, str]] = {
    "leads page": (
        "query($t: ID) { leads(tenantId: $t, first: 50) { edges { node { id createdAt status "
        "contact { name } calls { status } } } } }",
        "query($t: UUID) { allLeads(condition: {tenantId: $t}, orderBy: [CREATED_AT_DESC, ID_DESC], first: 50) "
        "{ edges { node { id createdAt status contactByContactId { name } "
        "callsByLeadId(condition: {isPrimaryLeg: true}, orderBy: [STARTED_AT_ASC, ID_ASC]) { nodes { status } } } } } }",
    ),
    "calls page": (
        "query($t: ID) { calls(tenantId: $t, first: 50) { edges { node { id startedAt status direction "
        "durationSeconds agent { name } lead { id status } } } } }",
        "query($t: UUID) { allCalls(condition: {tenantId: $t, isPrimaryLeg: true}, "
        "orderBy: [STARTED_AT_DESC, ID_DESC], first: 50) { edges { node { id startedAt status direction "
        "durationSeconds agentName leadByLeadId { id status } } } } }",
    ),
    "lead(id) timeline": (
        "query($id: ID!) { lead(id: $id) { id status speedToLeadSeconds contact { name phone } "
        "timeline { kind at call { status durationSeconds agent { name } } note { body } "
        "statusChange { toStatus } } } }",
        "query($id: UUID!) { leadById(id: $id) { id status createdAt firstAttemptAt "
        "contactByContactId { name phone } "
        "callsByLeadId(condition: {isPrimaryLeg: true}, orderBy: [STARTED_AT_ASC, ID_ASC]) "
        "{ nodes { startedAt status durationSeconds agentName } } "
        "leadNotesByLeadId(orderBy: [CREATED_AT_ASC, ID_ASC]) { nodes { createdAt body } } "
        "leadStatusChangesByLeadId(orderBy: [CHANGED_AT_ASC, ID_ASC]) { nodes { changedAt toStatus } } } }",
    ),
}
POSTGRAPHILE_DIR = Path("/tmp/calltrax-bench-postgraphile")


def install_postgraphile() -> Path:
    """`npm install postgraphile@4` into a scratch folder (once); the CLI's path."""
    cli = POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"
    if not cli.exists():
        POSTGRAPHILE_DIR.mkdir(parents=True, exist_ok=True)
        (POSTGRAPHILE_DIR / "package.json").write_text('{"name": "calltrax-bench-peer", "private": true}')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "postgraphile@4"], cwd=POSTGRAPHILE_DIR, check=True
        )
    return cli


def start_postgraphile(cli: Path, database_url: str, port: int, pool: int) -> subprocess.Popen[bytes]:
    """One Node process in production mode (no query log, no GraphiQL) on `port`."""
    url = make_url(database_url).set(drivername="postgres").render_as_string(hide_password=False)
    command = [str(cli), "-c", url, "--schema", "public", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--disable-graphiql", "--disable-query-log", "--max-pool-size", str(pool)]
    env = {**os.environ, "NODE_ENV": "production"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)


async def wait_graphql(base_url: str, headers: dict[str, str], patience: float = 90.0) -> None:
    deadline = time.perf_counter() + patience
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        while True:
            try:
                response = await http.post("/graphql", json={"query": "{ __typename }"})
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise SystemExit(f"no GraphQL server at {base_url} after {patience:.0f} s")
            await asyncio.sleep(0.3)


async def load(
    base_url: str, headers: dict[str, str], bodies: list[bytes], seconds: float, connections: int
) -> dict[str, float]:
    """`connections` keep-alive clients posting `bodies` in turn for `seconds`: req/s, p50, p99 (ms)."""
    from bench.http_client import HttpError, KeepAliveClient

    latencies: list[float] = []
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        http = KeepAliveClient(base_url, headers=headers, timeout=30)
        turn = offset
        try:
            while time.perf_counter() < stop_at:
                body = bodies[turn % len(bodies)]
                turn += connections
                started = time.perf_counter()
                try:
                    status, answer = await http.post("/graphql", body)
                except HttpError as error:
                    failures.append(str(error))
                    continue
                latencies.append(time.perf_counter() - started)
                if status != 200 or b'"errors"' in answer:
                    failures.append(f"{status} {answer[:300]!r}")
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(connections)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{base_url}: {len(failures)} failed requests, first: {failures[0]}")
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }


async def check_pages(servers: dict[str, tuple[str, dict[str, str], dict[str, list[bytes]]]]) -> None:
    """Every page answers data, no errors, on every server (before anything is timed)."""
    for name, (base_url, headers, pages) in servers.items():
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
            for page, bodies in pages.items():
                response = await http.post(
                    "/graphql", content=bodies[0], headers={"Content-Type": "application/json"}
                )
                body = response.json()
                if response.status_code != 200 or body.get("errors") or not body.get("data"):
                    raise SystemExit(f"{name} {page}: {response.status_code} {str(body)[:500]}")


async def run_peer(
    servers: dict[str, tuple[str, dict[str, str], dict[str, list[bytes]]]],
    seconds: float,
    rounds: int,
    connections: int,
) -> None:
    await check_pages(servers)
    names = list(servers)
    pages = list(PEER_PAGES)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for base_url, headers, bodies in servers.values():
        for page in pages:
            # Warm-up: pools, prepared statements, JIT of the Node process; not counted.
            await load(base_url, headers, bodies[page], min(2.0, seconds), connections)
    for round_ in range(rounds):
        for page in pages:
            # Alternating, so drift of the machine's speed hits both servers alike.
            for name in names if round_ % 2 == 0 else reversed(names):
                base_url, headers, bodies = servers[name]
                figures = await load(base_url, headers, bodies[page], seconds, connections)
                results.setdefault((name, page), []).append(figures)
                print(
                    f"round {round_ + 1} {page:<18} {name:<12} {figures['rps']:7.0f} req/s  "
                    f"p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms",
                    flush=True,
                )
    print(f"\n{connections} connections, {seconds:.0f} s per run, {rounds} rounds; load: {os.getloadavg()}")
    print("| page | server | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for page in pages:
        for name in names:
            runs = results[(name, page)]
            print(
                f"| {page} | {name} | {_span([r['rps'] for r in runs], '.0f')} | "
                f"{_span([r['p50'] for r in runs], '.1f')} | {_span([r['p99'] for r in runs], '.1f')} |"
            )
    for page in pages:
        ours = [r["rps"] for r in results[(names[0], page)]]
        theirs = [r["rps"] for r in results[(names[1], page)]]
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        p99 = max(r["p99"] for r in results[(names[0], page)])
        verdict = "meets" if min(ratios) >= 1.0 and p99 < 50 else "MISSES"
        print(
            f"{page}: {names[0]}/{names[1]} = {_span(ratios, '.2f')}x req/s, {names[0]} p99 max {p99:.1f} ms: "
            f"{verdict} the target (>= 1.0x, p99 < 50 ms)"
        )


def _span(values: list[float], spec: str) -> str:
    low, high = min(values), max(values)
    return format(low, spec) if format(low, spec) == format(high, spec) else f"{low:{spec}}-{high:{spec}}"


def peer_main(args: argparse.Namespace, tenant_id: str, token: str, lead_ids: list[str]) -> None:
    cli = install_postgraphile()
    ours, theirs = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "CALLTRAX_JWT_SECRET": SECRET,
        "CALLTRAX_LOG_LEVEL": "WARNING",
        "CALLTRAX_DATA_DIR": f"/tmp/calltrax-bench-{secrets.token_hex(4)}",
        # Every connection signs in as the same user here, standing for as many dashboards: the
        # per-user limit (2 at once by default, docs/security.md) would answer most of them 429.
        "CALLTRAX_GRAPHQL_MAX_CONCURRENT_PER_USER": str(args.connections),
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "uvicorn", "calltrax.app:app_from_env", "--factory", "--no-access-log"]
    command += ["--host", "127.0.0.1", "--port", str(ours), "--log-level", "warning"]
    command += ["--workers", str(args.workers)]
    calltrax = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    postgraphile = start_postgraphile(cli, args.database_url, theirs, pool=args.connections)
    print(
        f"CallTrax ({args.workers} uvicorn worker(s)) pid {calltrax.pid}; "
        f"PostGraphile 4 (one Node process) pid {postgraphile.pid}"
    )

    def page_bodies(index: int) -> dict[str, list[bytes]]:
        found: dict[str, list[bytes]] = {}
        for page, documents in PEER_PAGES.items():
            document = documents[index]
            if "$id" in document:
                found[page] = [
                    json.dumps({"query": document, "variables": {"id": i}}).encode() for i in lead_ids
                ]
            else:
                found[page] = [json.dumps({"query": document, "variables": {"t": tenant_id}}).encode()]
        return found

    servers = {
        "CallTrax": (f"http://127.0.0.1:{ours}", {"Authorization": f"Bearer {token}"}, page_bodies(0)),
        "PostGraphile": (f"http://127.0.0.1:{theirs}", {}, page_bodies(1)),
    }
    try:
        for base_url, headers, _ in servers.values():
            asyncio.run(wait_graphql(base_url, headers))
        asyncio.run(run_peer(servers, args.seconds, args.rounds, args.connections))
    finally:
        for process in (calltrax, postgraphile):
            process.terminate()
            process.wait(timeout=20)


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
    parser.add_argument("--peer", choices=["postgraphile"], help="drive the same pages on a peer server too")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (--peer)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per page (--peer)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CallTrax's uvicorn workers (--peer; PostGraphile runs one process)",
    )
    args = parser.parse_args()

    asyncio.run(ensure_database(args.database_url))
    upgrade(args.database_url)
    tenant_id, token, lead_ids = asyncio.run(seed(args.database_url, args.leads, args.calls_per_lead))
    if args.peer:
        peer_main(args, tenant_id, token, lead_ids)
        return

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
