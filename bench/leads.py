"""Load test of `POST /webhooks/lead/{token}`: leads/s, latency percentiles, errors, and a database check.

Starts `calltrax serve` (one uvicorn worker) against DATABASE_URL, or drives a running server with
--url; either way it makes its own tenant and webhook in that database, so the lead count can be
checked exactly, and removes them afterwards (unless --keep).

With --vs-pgbench the same run then stops the server and has `pgbench` run the same work in SQL
(contact upsert by phone, lead insert, LEAD_CREATED event row with the lead and contact, one
transaction; 8 clients, the same share of repeat phones, prepared statements) against the same
database for the same time, and prints both rates and their ratio.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/leads.py --seconds 20
    DATABASE_URL=... .venv/bin/python bench/leads.py --seconds 20 --vs-pgbench
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import backend_pids, cpu_seconds, cpu_used  # noqa: E402
from bench.http_client import HttpError, KeepAliveClient  # noqa: E402
from bench.server import free_port, start_server, wait_ready  # noqa: E402
from persistence import tenants as tenant_store  # noqa: E402
from persistence.db import create_engine  # noqa: E402
from persistence.migrate import upgrade  # noqa: E402


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    created: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lead_ids: set[str] = field(default_factory=set)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def lead_body(phone: str, number: int) -> dict[str, object]:
    return {
        "contact": {
            "name": f"Bench Person {number}",
            "phone": phone,
            "email": f"bench{number}@example.com",
            "city": "Perth",
        },
        "lead": {"source": "bench", "notes": "Wants a quote for solar panels"},
    }


async def client_loop(
    base_url: str,
    path: str,
    stop_at: float,
    numbers: itertools.count[int],
    seen: list[str],
    repeat_ratio: float,
    tally: Tally,
) -> None:
    http = KeepAliveClient(base_url)
    try:
        while time.perf_counter() < stop_at:
            number = next(numbers)
            if seen and random.random() < repeat_ratio:
                phone = random.choice(seen)
            else:
                # National AU mobiles, normalised with the tenant's region: 04xx xxx xxx.
                phone = f"04{number % 100_000_000:08d}"
                seen.append(phone)
            body = json.dumps(lead_body(phone, number)).encode()
            started = time.perf_counter()
            try:
                status, answer = await http.post(path, body)
            except HttpError as error:
                tally.error(str(error))
                continue
            tally.latencies.append(time.perf_counter() - started)
            if status == 201:
                tally.created += 1
                tally.lead_ids.add(json.loads(answer)["lead_id"])
            elif status == 200:
                tally.duplicates += 1
            else:
                tally.error(f"HTTP {status}")
    finally:
        await http.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# What a lead post does, in SQL: the contact merged by phone (30% of phones repeat), the lead, and its
# LEAD_CREATED event row carrying the lead and contact as the server's does; one transaction.
PGBENCH_SCRIPT = r"""
\set r random(1, 100)
\set n random(1, 1000000000)
\set p (case when :r <= :repeat_percent then random(1, 3000) else 1000000000 + :n end)
BEGIN;
INSERT INTO contacts AS c (tenant_id, phone, phone_raw, email, name, city, metadata, created_at, updated_at)
VALUES (CAST(:tenant AS uuid), '+61' || CAST(:p AS text), '04' || CAST(:p AS text), 'bench' || :n || '@example.com',
        'Bench Person ' || :n, 'Perth', '{}', now(), now())
ON CONFLICT (tenant_id, phone) DO UPDATE SET email = coalesce(c.email, EXCLUDED.email), updated_at = EXCLUDED.updated_at
RETURNING id AS contact_id
\gset
INSERT INTO leads (tenant_id, contact_id, lead_webhook_id, source, status, notes, raw_data, created_at, updated_at, stage)
VALUES (CAST(:tenant AS uuid), CAST(:contact_id AS uuid), CAST(:hook AS uuid), 'bench', 'new',
        'Wants a quote for solar panels',
        jsonb_build_object('contact', jsonb_build_object('name', 'Bench Person ' || :n, 'phone', '04' || :p),
                           'lead', jsonb_build_object('source', 'bench', 'notes', 'Wants a quote for solar panels')),
        now(), now(), 'follow_up_1')
RETURNING id AS lead_id
\gset
INSERT INTO events (tenant_id, type, payload)
SELECT l.tenant_id, 'LEAD_CREATED', jsonb_build_object('lead', to_jsonb(l) - 'raw_data', 'contact', to_jsonb(c))
FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE l.id = CAST(:lead_id AS uuid);
END;
"""


def run_pgbench(
    database_url: str, *, tenant_id: str, hook_id: str, seconds: float, clients: int, repeat_ratio: float
) -> tuple[float, float | None, int, str]:
    """pgbench's transactions/s, p99 latency (ms) and transactions done for `PGBENCH_SCRIPT`; also
    its summary lines."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    log_dir = tempfile.mkdtemp(prefix="pgbench-")
    command = [
        "pgbench", "--no-vacuum", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
        "-T", str(max(1, round(seconds))), "-f", script.name, "-l", "--log-prefix", f"{log_dir}/tx",
        "-D", f"tenant={tenant_id}", "-D", f"hook={hook_id}", "-D", f"repeat_percent={round(repeat_ratio * 100)}",
        "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
        url.database or "postgres",
    ]  # fmt: skip
    environment = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
        if done.returncode != 0:
            raise SystemExit(f"pgbench failed: {done.stderr.strip()}")
        found = re.search(r"tps = ([0-9.]+)", done.stdout)
        if found is None:
            raise SystemExit(f"no tps in pgbench's output: {done.stdout}")
        # Per-transaction log lines: client, tx number, latency in us, ...
        latencies = [
            int(line.split()[2]) / 1000
            for name in os.listdir(log_dir)
            for line in Path(log_dir, name).read_text().splitlines()
            if line.strip()
        ]
        summary = "; ".join(
            line.strip()
            for line in done.stdout.splitlines()
            if line.startswith(("number of failed", "latency"))
        )
        processed = re.search(r"number of transactions actually processed: ([0-9]+)", done.stdout)
        return (
            float(found.group(1)),
            percentile(latencies, 0.99) if latencies else None,
            int(processed.group(1)) if processed else -1,
            summary,
        )
    finally:
        os.unlink(script.name)
        shutil.rmtree(log_dir, ignore_errors=True)


async def run(args: argparse.Namespace) -> int:
    database_url = args.database_url
    engine = create_engine(database_url, pool_size=2)
    server: subprocess.Popen[bytes] | None = None
    base_url = args.url
    if base_url is None:
        # `calltrax serve` migrates too; doing it first keeps tenant creation independent of the server.
        await asyncio.to_thread(upgrade, database_url)
        port = free_port()
        server = start_server(database_url, port, redis_url=args.redis_url)
        base_url = f"http://127.0.0.1:{port}"
    slug = f"bench-{secrets.token_hex(4)}"
    try:
        await wait_ready(base_url)
        async with engine.begin() as connection:
            tenant = await tenant_store.insert_tenant(
                connection, name=f"Bench {slug}", slug=slug, timezone="Australia/Perth"
            )
            assert tenant is not None
            webhook = await tenant_store.create_lead_webhook(connection, tenant_id=tenant.id, label="bench")
        path = f"/webhooks/lead/{webhook.token}"
        tally = Tally()
        numbers = itertools.count(1)
        seen: list[str] = []
        # A short warm-up fills connection pools and prepared-statement caches; not counted.
        warm = Tally()
        warm_stop = time.perf_counter() + args.warmup
        await asyncio.gather(
            *(client_loop(base_url, path, warm_stop, numbers, seen, 0.3, warm) for _ in range(4))
        )
        server_pids = [server.pid] if server else []
        cpu_before = (cpu_seconds(server_pids), cpu_seconds(await backend_pids(engine)))
        started = time.perf_counter()
        stop_at = started + args.seconds
        await asyncio.gather(
            *(
                client_loop(base_url, path, stop_at, numbers, seen, args.repeat_ratio, tally)
                for _ in range(args.concurrency)
            )
        )
        elapsed = time.perf_counter() - started
        backends = await backend_pids(engine)
        cpu_after = (cpu_seconds(server_pids), cpu_seconds(backends))
        acknowledged = tally.lead_ids | warm.lead_ids
        async with engine.connect() as connection:
            in_database = (
                await connection.execute(
                    text("SELECT count(*) FROM leads WHERE tenant_id = :tenant_id"), {"tenant_id": tenant.id}
                )
            ).scalar_one()
            found = (
                await connection.execute(
                    text("SELECT count(*) FROM leads WHERE id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": list(acknowledged)},
                )
            ).scalar_one()
            contacts = (
                await connection.execute(
                    text("SELECT count(*) FROM contacts WHERE tenant_id = :tenant_id"),
                    {"tenant_id": tenant.id},
                )
            ).scalar_one()
        total = tally.created + tally.duplicates
        errors = sum(tally.errors.values())
        latencies_ms = [value * 1000 for value in tally.latencies]
        print(f"target        {base_url} (one uvicorn worker{'' if server else ', external'})")
        print(
            f"clients       {args.concurrency} concurrent, {args.seconds:.0f} s, repeat phones ~{args.repeat_ratio:.0%}"
        )
        print(f"leads/s       {total / elapsed:,.0f}  ({total} accepted in {elapsed:.1f} s)")
        print(
            f"latency ms    p50 {percentile(latencies_ms, 0.50):.1f}  p95 {percentile(latencies_ms, 0.95):.1f}  "
            f"p99 {percentile(latencies_ms, 0.99):.1f}  max {max(latencies_ms, default=float('nan')):.1f}  "
            f"mean {statistics.fmean(latencies_ms) if latencies_ms else float('nan'):.1f}"
        )
        if total:
            app_cpu = cpu_used(cpu_before[0], cpu_after[0]) / total * 1e6
            db_cpu = cpu_used(cpu_before[1], cpu_after[1]) / total * 1e6
            app_part = f"server {app_cpu:,.0f} us" if server else "server n/a (external)"
            print(f"cpu per lead  {app_part}, PostgreSQL {db_cpu:,.0f} us ({len(backends)} backends)")
        print(f"errors        {errors}  {tally.errors or ''}")
        print(f"contacts      {contacts} for {len(seen)} distinct phones")
        ok = found == len(acknowledged) == in_database and errors == 0
        print(
            f"db check      {'OK' if ok else 'MISMATCH'}: {len(acknowledged)} leads acknowledged, "
            f"{found} of them in the database, {in_database} leads stored for the tenant"
        )
        if not args.keep:
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
        if args.vs_pgbench:
            # PostgreSQL alone now: the server's relay and sweeps would otherwise share its cores.
            if server is not None:
                stop_server(server)
                server = None
            ok = (
                await compare_with_pgbench(
                    engine, args, leads_per_second=total / elapsed, latencies_ms=latencies_ms
                )
                and ok
            )
        return 0 if ok else 1
    finally:
        await engine.dispose()
        if server is not None:
            stop_server(server)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


async def compare_with_pgbench(
    engine: AsyncEngine, args: argparse.Namespace, *, leads_per_second: float, latencies_ms: list[float]
) -> bool:
    """Run `PGBENCH_SCRIPT` on a tenant of its own; print its rate beside the server's and the ratio."""
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench is not installed (Debian: apt-get install postgresql-client)")
    slug = f"pgbench-{secrets.token_hex(4)}"
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection, name=f"Bench {slug}", slug=slug, timezone="Australia/Perth"
        )
        assert tenant is not None
        webhook = await tenant_store.create_lead_webhook(connection, tenant_id=tenant.id, label="pgbench")
    try:
        tps, p99, processed, summary = await asyncio.to_thread(
            run_pgbench,
            args.database_url,
            tenant_id=str(tenant.id),
            hook_id=str(webhook.id),
            seconds=args.seconds,
            clients=args.pgbench_clients,
            repeat_ratio=args.repeat_ratio,
        )
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    text("SELECT count(*) FROM leads WHERE tenant_id = :tenant_id"), {"tenant_id": tenant.id}
                )
            ).scalar_one()
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
    server_p99 = percentile(latencies_ms, 0.99)
    print(
        f"pgbench       {tps:,.0f} transactions/s, {args.pgbench_clients} clients, p99 "
        f"{p99 if p99 is not None else float('nan'):.1f} ms, {processed} committed, {stored} leads stored "
        f"({summary})"
    )
    ratio = leads_per_second / tps if tps else float("nan")
    target_met = ratio >= 0.5 and server_p99 < 50
    print(
        f"ratio         {ratio:.2f}x  (server {leads_per_second:,.0f} leads/s with p99 {server_p99:.1f} ms, "
        f"1 worker, vs pgbench {tps:,.0f}/s; target >= 0.5x with p99 < 50 ms: "
        f"{'met' if target_met else 'not met'})"
    )
    return bool(stored == processed)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running server's base URL (default: start one)")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL"), help="broker for a started server"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--repeat-ratio", type=float, default=0.3, help="share of posts reusing a known phone"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of uncounted warm-up")
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant and its rows")
    parser.add_argument(
        "--vs-pgbench",
        action="store_true",
        help="then run the same transaction with pgbench for as long and print the ratio",
    )
    parser.add_argument("--pgbench-clients", type=int, default=8)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or DATABASE_URL is required (the bench checks the lead count there)")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
