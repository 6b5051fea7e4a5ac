"""Dialpad call-event webhook throughput and latency: signed events against a running uvicorn server.

    DATABASE_URL=postgresql://... python bench/call_events.py --seconds 5 [--url http://host:port]

With --company the events go to the company endpoint `POST /webhooks/dialpad`, signed with the company
secret, and are routed there: calls to the bench's leads as agents' direct-line calls (routed by the
lead's number, then by the leg), the others on the bench tenant's call center.

Without --url it starts `uvicorn calltrax.app:app_from_env` itself (--workers N) on a free port.
It makes a tenant with leads, pre-signs realistic event sequences (calling / connected / hangup /
dispositions, inbound misses, voicemails, and customer calls of several legs: call center + agent,
transfers, queue abandons; some redelivered, some out of order), posts them from
--concurrency keep-alive connections for --seconds, then prints events/s and latency percentiles
and checks nothing was lost: unique events sent = rows in call_events.

The client is a minimal HTTP/1.1 keep-alive writer over asyncio streams rather than httpx: it
shares the machine with the server, and httpx's per-request CPU would be measured as server time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu import backend_pids, cpu_seconds, cpu_used
from bench.server import free_port, start_server, wait_ready
from calltrax.simulate import phone_number, plan_calls, sign
from domain.tenants import TenantSettings
from persistence import calls as call_store
from persistence import dialpad_company as company_store
from persistence import tenants as tenant_store
from persistence.db import create_engine
from persistence.migrate import upgrade

TARGET_EVENTS_PER_SECOND = 1000
TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class Sent:
    """What a planned request is: a redelivery of an event sent before, an event of a multi-leg call."""

    redelivery: bool
    multi_leg: bool


async def make_tenant(
    database_url: str, leads: int, rng: random.Random, *, company: bool = False
) -> tuple[str, str, list[str], str | None]:
    """A fresh tenant with a Dialpad secret and `leads` leads (an hour old) to link calls to; with
    `company`, a call center too, and the company secret (made if none) in place of the tenant's."""
    engine = create_engine(database_url, pool_size=1)
    slug = f"bench-{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(32)
    center = str(rng.randrange(10**15, 10**16)) if company else None
    phones = [phone_number(rng, "AU") for _ in range(leads)]
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection,
            name=f"Bench {slug}",
            slug=slug,
            timezone="Australia/Sydney",
            settings=TenantSettings(default_region="AU"),
            dialpad_webhook_secret=secret,
        )
        assert tenant is not None
        if company:
            await connection.execute(
                text("UPDATE tenants SET dialpad_call_center_id = :cc WHERE id = :t"),
                {"cc": center, "t": tenant.id},
            )
            secret = (await company_store.ensure_company(connection, secret=secret)).secret
        created = datetime.now(UTC) - timedelta(hours=1)
        for phone in phones:
            contact_id = (
                await connection.execute(
                    text(
                        "INSERT INTO contacts (tenant_id, phone) VALUES (:t, :phone) "
                        "ON CONFLICT (tenant_id, phone) DO UPDATE SET phone = EXCLUDED.phone RETURNING id"
                    ),
                    {"t": tenant.id, "phone": phone},
                )
            ).scalar_one()
            await connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, source, created_at) "
                    "VALUES (:t, :c, 'bench', :at)"
                ),
                {"t": tenant.id, "c": contact_id, "at": created},
            )
    await engine.dispose()
    return slug, secret, phones, center


def _on_company(claims: dict[str, Any], center: str, leads: set[str]) -> dict[str, Any]:
    """The event as the company subscription delivers it for the bench tenant."""
    target = claims.get("target") or {}
    if target.get("type") == "callcenter":
        return claims | {"target": target | {"id": int(center)}}
    if claims.get("external_number") in leads:
        # An agent's direct line: no call center on the call; the lead's number finds the tenant.
        return claims | {"proxy_target": {}, "group_id": "Office:5527348325810176"}
    return claims | {"proxy_target": {"id": int(center), "type": "callcenter"}}


def requests(
    host: str,
    slug: str,
    secret: str,
    phones: list[str],
    calls: int,
    rng: random.Random,
    *,
    bursts: bool,
    center: str | None = None,
) -> Iterator[tuple[bytes, Sent]]:
    """Pre-built HTTP requests, and whether each is a redelivery and an event of a customer call of
    several legs (one of its legs names another, or is named)."""
    path = "/webhooks/dialpad" if center else f"/webhooks/dialpad/{slug}"
    leads = set(phones)
    planned = list(plan_calls(rng, lead_phones=phones, calls=calls, region="AU", bursts=bursts))
    linked = {
        str(leg)
        for claims, _ in planned
        for field in ("master_call_id", "entry_point_call_id", "operator_call_id")
        if claims.get(field)
        for leg in (claims["call_id"], claims[field])
    }
    for claims, redelivery in planned:
        if center is not None:
            claims = _on_company(claims, center, leads)
        body = sign(claims, secret)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/jwt\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        yield head + body, Sent(redelivery=redelivery, multi_leg=str(claims["call_id"]) in linked)


async def worker(
    host: str,
    port: int,
    queue: list[tuple[bytes, Sent]],
    deadline: float,
    latencies: list[float],
    statuses: Counter[int],
    sent: list[Sent],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue and time.perf_counter() < deadline:
            request, what = queue.pop()
            began = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            statuses[int(status_line.split()[1])] += 1
            sent.append(what)
    finally:
        writer.close()


async def count_stored(database_url: str, slug: str, *, drop: bool) -> int:
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as connection:
        tenant = await tenant_store.get_tenant_by_slug(connection, slug)
        assert tenant is not None
        stored = await call_store.count_call_events(connection, tenant.id)
        if drop:
            await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
    await engine.dispose()
    return stored


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=1000, method="inclusive")[int(share * 1000) - 1]


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    # A fresh bench database needs the schema before the tenant is made (the server migrates too).
    await asyncio.to_thread(upgrade, args.database_url)
    slug, secret, phones, center = await make_tenant(args.database_url, args.leads, rng, company=args.company)
    server = None
    url = args.url
    if url is None:
        port = free_port()
        server = start_server(args.database_url, port, workers=args.workers)
        url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        queue = list(requests(host, slug, secret, phones, args.calls, rng, bursts=args.bursts, center=center))
        queue.reverse()  # pop() from the end keeps each call's planned delivery order
        total_planned = len(queue)
        engine = create_engine(args.database_url, pool_size=1)
        server_pids = [server.pid] if server else []
        # A short warm-up opens the server's pooled connections and prepares its statements on each;
        # its events count for the loss check, not for the figures.
        warm_sent: list[Sent] = []
        warm_statuses: Counter[int] = Counter()
        warm_until = time.perf_counter() + args.warmup
        await asyncio.gather(
            *(
                worker(host, port, queue, warm_until, [], warm_statuses, warm_sent)
                for _ in range(args.concurrency)
            )
        )
        cpu_before = (cpu_seconds(server_pids), cpu_seconds(await backend_pids(engine)))
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        sent: list[Sent] = []
        client_cpu = time.process_time()
        began = time.perf_counter()
        deadline = began + args.seconds
        await asyncio.gather(
            *(worker(host, port, queue, deadline, latencies, statuses, sent) for _ in range(args.concurrency))
        )
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - client_cpu
        backends = await backend_pids(engine)
        cpu_after = (cpu_seconds(server_pids), cpu_seconds(backends))
        await engine.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
    stored = await count_stored(args.database_url, slug, drop=not args.keep)
    unique = sum(1 for what in sent + warm_sent if not what.redelivery)
    measured_unique = sum(1 for what in sent if not what.redelivery)
    multi_leg = sum(1 for what in sent if what.multi_leg)
    rate = len(sent) / elapsed
    ms = sorted(value * 1000 for value in latencies)
    p50, p95, p99 = (percentile(ms, share) for share in (0.5, 0.95, 0.99))
    print(f"server: {url} ({'started here, ' + str(args.workers) + ' worker(s)' if server else 'given'})")
    print(
        f"deliveries: {'each call back to back (--bursts)' if args.bursts else 'calls interleaved by event time'}"
        + (", to the company endpoint (routed)" if args.company else "")
    )
    print(
        f"sent {len(sent)} events ({measured_unique} unique, {len(sent) - measured_unique} redeliveries) "
        f"after {len(warm_sent)} in a {args.warmup:g} s warm-up, of {total_planned} planned "
        f"in {elapsed:.2f} s from {args.concurrency} connections"
    )
    print(
        f"shapes: {multi_leg / max(len(sent), 1):.0%} of the events are of customer calls of several legs "
        "(call center + agent, transfer, queue abandon), the others of one-leg calls; "
        "some calls' events arrive out of order"
    )
    print(f"throughput: {rate:,.0f} events/s")
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {ms[-1] if ms else 0:.1f}")
    if sent:
        app_part = (
            f"server {cpu_used(cpu_before[0], cpu_after[0]) / len(sent) * 1e6:,.0f} us, " if server else ""
        )
        db_cpu = cpu_used(cpu_before[1], cpu_after[1]) / len(sent) * 1e6
        print(
            f"cpu per event: {app_part}PostgreSQL {db_cpu:,.0f} us ({len(backends)} backends), "
            f"this load generator {client_cpu / len(sent) * 1e6:,.0f} us"
        )
    print(f"statuses: {dict(statuses)}")
    print(f"stored: {stored} rows in call_events for {unique} unique events sent (warm-up included)")
    lost_nothing = stored == unique and set(statuses) | set(warm_statuses) == {200}
    fast = rate >= TARGET_EVENTS_PER_SECOND and p99 < TARGET_P99_MS
    print(
        f"nothing lost: {'yes' if lost_nothing else 'NO'}; target >= {TARGET_EVENTS_PER_SECOND} events/s "
        f"and p99 < {TARGET_P99_MS:.0f} ms: {'met' if fast else 'not met'}"
    )
    return 0 if lost_nothing else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="a running server (default: start one here)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of uncounted warm-up")
    parser.add_argument(
        "--bursts", action="store_true", help="each call's events back to back (they meet on its lock)"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers when starting the server")
    parser.add_argument("--calls", type=int, default=10_000, help="calls to pre-sign (about 4 events each)")
    parser.add_argument("--leads", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant and its rows")
    parser.add_argument(
        "--company", action="store_true", help="post to the company endpoint POST /webhooks/dialpad (routed)"
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url (the tenant is made and counted there)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
