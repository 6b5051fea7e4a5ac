"""Subscription fan-out and the reconnect storm: N dashboards on one or more server processes.

Starts `--servers` `calltrax serve` processes (each `--workers`; DATABASE_URL and REDIS_URL from the
environment or flags; they share Redis), creates a tenant with a lead webhook and `--users` admins,
and opens `--subscribers` graphql-transport-ws sockets from `--clients` client processes (a lean
asyncio client, bench/ws_client.py, so the client side is not the bottleneck), socket i on server
i mod `--servers` and signed in as user i mod `--users`. Each sends `connection_init` with its
bearer token, then `leadChanged(tenantId)`.

With `--storm` every socket connects at the same moment (a deploy or a network blip: every
dashboard reconnects at once), and lead webhooks are posted meanwhile (`--storm-webhooks` per
second, round robin over the servers) to another tenant, as other clients' lead sources keep
posting while one client's dashboards reconnect: their latency is the one printed "during the
storm" (their events reach no bench socket; every event of the watched tenant is counted below).
Without it the sockets open 50 at a time per client process. Either way the bench waits until the
servers' `/metrics` count every subscription open (`calltrax_open_subscriptions`, summed over the
servers), then posts `--events` leads through the webhook, round robin over the servers (so with
two servers half the events cross processes through Redis). Latency runs from the webhook's answer
to the subscriber's receipt (CLOCK_MONOTONIC, shared by every process on the machine).

Prints: seconds until every socket was acknowledged and until every subscription was open;
deliveries (every subscriber must get every event) with p50/p99/max; the webhooks' latency during
the storm; the servers' memory (RSS of each server's process tree) before, at its peak and after;
the load average. `--server-root` runs the servers from another checkout (a baseline worktree with
its own .venv) for side-by-side runs.

    DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/subscriptions.py --subscribers 10000 --storm [--servers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_client import HttpError, KeepAliveClient
from bench.server import ROOT, free_port, start_server, wait_ready
from bench.ws_client import raise_open_files_limit, run_clients
from calltrax.tokens import issue_token
from domain.roles import Role
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.db import create_engine
from persistence.migrate import upgrade

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
SUBSCRIPTION = "subscription ($t: ID) { leadChanged(tenantId: $t) { kind cursor lead { id } } }"
OPEN_SUBSCRIPTIONS = re.compile(rb"^calltrax_open_subscriptions(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


def tree_rss_mb(pid: int) -> float:
    """RSS of `pid` and every descendant (a server with workers is several processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


async def setup(database_url: str, users: int) -> tuple[UUID, str, str, list[str]]:
    # A fresh bench database needs the schema before the tenant is made.
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url, pool_size=2)
    tokens = []
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection, name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}", timezone="UTC"
        )
        assert tenant is not None
        webhook = await tenant_store.create_lead_webhook(connection, tenant_id=tenant.id)
        other = await tenant_store.insert_tenant(
            connection, name="Bench Other", slug=f"bench-{uuid.uuid4().hex[:8]}", timezone="UTC"
        )
        assert other is not None
        other_webhook = await tenant_store.create_lead_webhook(connection, tenant_id=other.id)
        for _ in range(users):
            user = await user_store.upsert_user(
                connection,
                user_id=f"bench-{uuid.uuid4().hex[:12]}",
                email=f"{uuid.uuid4().hex[:12]}@bench.example",
                name="Bench",
                role=Role.ADMIN,
                tenant_id=None,
            )
            tokens.append(issue_token(SECRET, subject=user.id, email=user.email, role="admin"))
    await engine.dispose()
    return tenant.id, webhook.token, other_webhook.token, tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def lead_body(n: int) -> bytes:
    return (
        f'{{"name": "Bench Lead {n}", "phone": "+1555{n % 10**7:07d}", "email": "lead{n}@bench.example"}}'
    ).encode()


class Poster:
    """Posts leads to the servers' webhook round robin, one keep-alive connection per server and task."""

    def __init__(self, base_urls: list[str], webhook_token: str) -> None:
        self.base_urls = base_urls
        self.path = f"/webhooks/lead/{webhook_token}"
        self.counter = 0
        self.errors: list[str] = []

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    async def post(self, client: KeepAliveClient) -> tuple[str | None, float, float]:
        """(lead id or None on failure, seconds taken, monotonic time of the answer)."""
        n = self.next_number()
        started = time.monotonic()
        try:
            status, body = await client.post(self.path, lead_body(n))
        except HttpError as error:
            # The server may close a keep-alive connection just as a post starts: one retry, new connection.
            try:
                status, body = await client.post(self.path, lead_body(n))
            except HttpError:
                self.errors.append(str(error))
                return None, time.monotonic() - started, time.monotonic()
        answered = time.monotonic()
        if status not in (200, 201):
            self.errors.append(f"HTTP {status}")
            return None, answered - started, answered
        match = re.search(rb'"lead_id":\s*"([^"]+)"', body)
        return (match.group(1).decode() if match else None), answered - started, answered


async def open_subscriptions(http: httpx.AsyncClient, base_urls: list[str]) -> int:
    total = 0.0
    for url in base_urls:
        with contextlib.suppress(httpx.HTTPError):
            found = OPEN_SUBSCRIPTIONS.search((await http.get(f"{url}/metrics", timeout=5)).content)
            if found:
                total += float(found.group(1))
    return int(total)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between events")
    parser.add_argument("--storm", action="store_true", help="every socket connects at the same moment")
    parser.add_argument(
        "--storm-webhooks", type=float, default=20.0, help="lead webhooks per second during it"
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="server processes (replicas on their own ports)"
    )
    parser.add_argument("--quiet-seconds", type=float, default=5.0, help="webhooks measured before the storm")
    parser.add_argument("--workers", type=int, default=1, help="`calltrax serve --workers` of each server")
    parser.add_argument("--users", type=int, default=100, help="admins the sockets sign in as")
    parser.add_argument("--clients", type=int, default=0, help="client processes (0: one per 2,500 sockets)")
    parser.add_argument(
        "--patience", type=float, default=120.0, help="seconds to wait for every subscription"
    )
    parser.add_argument("--server-root", type=Path, default=ROOT, help="checkout the servers run from")
    parser.add_argument("--profile", type=Path, help="write each server's cProfile as PROFILE.<n>")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    if not args.database_url or not args.redis_url:
        parser.error("DATABASE_URL and REDIS_URL (or --database-url/--redis-url) are required")
    raise_open_files_limit()
    load_before = os.getloadavg()

    tenant_id, webhook_token, other_webhook_token, tokens = await setup(args.database_url, args.users)
    per_server = -(-args.subscribers // args.servers)
    # Every socket comes from 127.0.0.1, and a user holds many of them: lift the per-address and
    # per-user caps (issue 13) for the bench, and the open-connection cap per process.
    os.environ.update(
        {
            "CALLTRAX_WS_MAX_PER_ADDRESS": str(per_server + 100),
            "CALLTRAX_WS_MAX_PER_USER": str(per_server + 100),
            "CALLTRAX_MAX_CONNECTIONS": str(per_server + 1000),
            "CALLTRAX_LOG_LEVEL": "WARNING",
        }
    )
    ports = [free_port() for _ in range(args.servers)]
    servers = [
        start_server(
            args.database_url,
            port,
            jwt_secret=SECRET,
            redis_url=args.redis_url,
            workers=args.workers,
            root=args.server_root,
            profile=args.profile.with_suffix(f".{index}") if args.profile else None,
        )
        for index, port in enumerate(ports)
    ]
    base_urls = [f"http://127.0.0.1:{port}" for port in ports]
    clients_count = args.clients or max(1, -(-args.subscribers // 2500))
    context = multiprocessing.get_context("spawn")
    pipes: list[Any] = []
    processes: list[Any] = []
    http = httpx.AsyncClient()
    poster = Poster(base_urls, webhook_token)
    storm_poster = Poster(base_urls, other_webhook_token)
    try:
        for url in base_urls:
            await wait_ready(url, patience=120)
        plan = [(i % args.servers, i % len(tokens)) for i in range(args.subscribers)]
        for index in range(clients_count):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=run_clients,
                args=(
                    theirs,
                    [("127.0.0.1", port) for port in ports],
                    plan[index::clients_count],
                    tokens,
                    str(tenant_id),
                    SUBSCRIPTION,
                    args.storm,
                ),
                daemon=True,
            )
            process.start()
            pipes.append(mine)
            processes.append(process)
        loop = asyncio.get_running_loop()
        for pipe in pipes:
            assert await loop.run_in_executor(None, pipe.recv) == "ready"
        await asyncio.sleep(1.0)
        rss_before = [tree_rss_mb(server.pid) for server in servers]
        rss_peak = list(rss_before)

        # The storm: every client process opens its sockets now; webhooks keep coming meanwhile.
        storm_latencies: list[float] = []
        storm_failures = 0
        storming = True

        async def post_during_storm(client: KeepAliveClient, period: float) -> None:
            nonlocal storm_failures
            next_at = time.monotonic()
            try:
                while storming:
                    lead, took, _ = await storm_poster.post(client)
                    storm_latencies.append(took)
                    storm_failures += lead is None
                    next_at += period
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            finally:
                await client.close()

        posters = []
        # Four posting connections per server, so one slow answer does not hold the others back;
        # opened (one lead each, not counted) before the storm, as a proxy in front keeps its
        # connections: a new connection would wait behind every socket in the accept queue.
        storm_clients = []
        if args.storm and args.storm_webhooks > 0:
            storm_clients = [KeepAliveClient(url, timeout=30) for url in base_urls for _ in range(4)]
            for client in storm_clients:
                await storm_poster.post(client)
        quiet_latencies: list[float] = []
        if storm_clients:
            # The same webhooks for a few seconds before the storm: what they take on this machine now.
            storming = True
            posters = [
                asyncio.create_task(post_during_storm(c, len(storm_clients) / args.storm_webhooks))
                for c in storm_clients
            ]
            await asyncio.sleep(args.quiet_seconds)
            storming = False
            await asyncio.gather(*posters)
            quiet_latencies, storm_latencies[:] = list(storm_latencies), []
            storm_failures = 0
            storming = True
        started = time.monotonic()
        for pipe in pipes:
            pipe.send("go")
        if storm_clients:
            period = len(storm_clients) / args.storm_webhooks
            posters = [asyncio.create_task(post_during_storm(client, period)) for client in storm_clients]
        subscribed_seconds: float | None = None
        live = 0
        while time.monotonic() - started < args.patience:
            live = await open_subscriptions(http, base_urls)
            rss_peak = [max(peak, tree_rss_mb(s.pid)) for peak, s in zip(rss_peak, servers, strict=True)]
            if live >= args.subscribers:
                subscribed_seconds = time.monotonic() - started
                break
            await asyncio.sleep(0.25)
        storming = False
        await asyncio.gather(*posters)
        await asyncio.sleep(1.0)
        rss_after = [tree_rss_mb(server.pid) for server in servers]

        # The measured events: posted round robin over the servers once every subscription is open.
        sent: dict[str, float] = {}
        webhook_clients = [KeepAliveClient(url, timeout=30) for url in base_urls]
        for n in range(args.events):
            lead, _, answered = await poster.post(webhook_clients[n % len(webhook_clients)])
            if lead is not None:
                sent[lead] = answered
            await asyncio.sleep(args.interval)
        for client in webhook_clients:
            await client.close()

        reports: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10.0
        while True:
            reports = []
            for pipe in pipes:
                pipe.send(list(sent))
            for pipe in pipes:
                reports.append(await loop.run_in_executor(None, pipe.recv))
            delivered = sum(len(received) for report in reports for received in report["received"])
            if delivered >= len(sent) * args.subscribers or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        rss_peak = [max(peak, tree_rss_mb(s.pid)) for peak, s in zip(rss_peak, servers, strict=True)]

        acked = [at - started for report in reports for at in report["acked"]]
        latencies = [
            at - sent[lead]
            for report in reports
            for received in report["received"]
            for lead, at in received.items()
        ]
        failures: dict[str, int] = {}
        for report in reports:
            for reason, count in report["failures"].items():
                failures[reason] = failures.get(reason, 0) + count
        expected = len(sent) * args.subscribers
        print(
            f"servers:             {args.servers} x `calltrax serve --workers {args.workers}` from {args.server_root}"
        )
        print(
            f"subscribers:         {args.subscribers} from {clients_count} client processes, {len(tokens)} users"
        )
        print(
            f"mode:                {'storm: every socket at once' if args.storm else '50 at a time per client'}"
        )
        opened = sum(report["opened"] for report in reports)
        retries = sum(report["retries"] for report in reports)
        print(f"sockets opened:      {opened} ({retries} connect retries); failures: {failures or 'none'}")
        if acked:
            print(
                f"connection_ack:      {len(acked)} / {args.subscribers}; all within {max(acked):.1f} s"
                f" (p50 {statistics.median(acked):.1f} s)"
            )
        print(
            "subscribed:          "
            + (
                f"every subscription open after {subscribed_seconds:.1f} s (target < 60 s)"
                if subscribed_seconds is not None
                else f"ONLY {live} / {args.subscribers} open after {args.patience:.0f} s"
            )
        )
        if quiet_latencies:
            print(
                f"webhooks before it:  {len(quiet_latencies)} posted;"
                f" p50 {statistics.median(quiet_latencies) * 1000:.1f} ms,"
                f" p99 {percentile(quiet_latencies, 0.99) * 1000:.1f} ms (no sockets yet: this machine's figure now)"
            )
        if storm_latencies:
            print(
                f"webhooks in storm:   {len(storm_latencies)} posted, {storm_failures} failed;"
                f" p50 {statistics.median(storm_latencies) * 1000:.1f} ms,"
                f" p99 {percentile(storm_latencies, 0.99) * 1000:.1f} ms,"
                f" max {max(storm_latencies) * 1000:.1f} ms, {sum(t > 0.1 for t in storm_latencies)} over 100 ms"
                " (target p99 < 100 ms)"
            )
        print(
            f"events:              {len(sent)} of {args.events} answered, at {args.interval}s intervals"
            + (f"; failed: {poster.errors}" if poster.errors else "")
        )
        print(
            f"deliveries:          {len(latencies)} / {expected}"
            f" ({'every subscriber got every event' if latencies and len(latencies) == expected else 'MISSING DELIVERIES'})"
        )
        if latencies:
            print(
                f"latency:             p50 {statistics.median(latencies) * 1000:.1f} ms,"
                f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
                " from the webhook's answer (target p99 < 1 s)"
            )
        for index, (before, peak, after) in enumerate(zip(rss_before, rss_peak, rss_after, strict=True)):
            print(
                f"server {index} RSS:        {before:.0f} MB before the sockets, peak {peak:.0f} MB,"
                f" {after:.0f} MB with them (+{after - before:.0f} MB;"
                f" {(after - before) * 1024 / max(1, per_server):.0f} KB per socket)"
            )
        print(f"servers' RSS total:  peak {sum(rss_peak):.0f} MB (target < 1 GB)")
        print(
            "load average:        "
            f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min; {os.cpu_count()} cores)"
        )
    finally:
        for pipe in pipes:
            with contextlib.suppress(Exception):
                pipe.send("close")
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        await http.aclose()
        for server in servers:
            server.terminate()
        for server in servers:
            with contextlib.suppress(Exception):
                server.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
