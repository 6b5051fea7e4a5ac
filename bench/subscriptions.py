"""Subscription fan-out: N websocket subscribers on one server process; delivery latency and server memory.

Starts `uvicorn calltrax.app:app_from_env` as its own process (DATABASE_URL and REDIS_URL from the
environment or flags; the database must be migrated), creates a tenant and an admin, opens
`--subscribers` graphql-transport-ws sockets each running `leadChanged(tenantId)`, then writes
`--events` leads. The clock starts when the lead webhook answers (`POST /webhooks/lead/{token}`);
where that route is not on this branch yet, the bench writes the lead and its event in one
transaction and relays it itself through Redis (t0 = after commit and publish), which is the path a
webhook's event takes after its answer. Prints p50/p99/max latency, deliveries (every subscriber
must get every event) and the server's RSS before and after the sockets.

    DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/subscriptions.py --subscribers 1000 --events 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import insert
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import free_port
from calltrax.event_bus import EventBus
from calltrax.relay import EventRelay
from calltrax.tokens import issue_token
from domain.events import EventType, NewEvent
from domain.roles import Role
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.db import create_engine
from persistence.migrate import upgrade
from persistence.snapshots import snapshot
from persistence.tables import Contact, Lead
from persistence.unit_of_work import transaction

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
SUBSCRIPTION = "subscription ($t: ID) { leadChanged(tenantId: $t) { kind cursor lead { id } } }"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Subscriber:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.ws: ClientConnection | None = None

    async def open(self, ws_url: str, token: str, tenant_id: UUID) -> None:
        self.ws = await connect(
            ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression=None,
            open_timeout=60,
            ping_interval=None,
        )
        await self.ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await self.ws.recv())
        assert ack["type"] == "connection_ack", ack
        await self.ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"t": str(tenant_id)}},
                }
            )
        )

    async def run(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "next":
                    self.received[message["payload"]["data"]["leadChanged"]["lead"]["id"]] = now


async def setup(database_url: str) -> tuple[UUID, str, str]:
    # A fresh bench database needs the schema before the tenant is made.
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url, pool_size=2)
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection, name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}", timezone="UTC"
        )
        assert tenant is not None
        webhook = await tenant_store.create_lead_webhook(connection, tenant_id=tenant.id)
        user = await user_store.upsert_user(
            connection,
            user_id=f"bench-{uuid.uuid4().hex[:8]}",
            email=f"{uuid.uuid4().hex[:8]}@bench.example",
            name="Bench",
            role=Role.ADMIN,
            tenant_id=None,
        )
    await engine.dispose()
    token = issue_token(SECRET, subject=user.id, email=user.email, role="admin")
    return tenant.id, webhook.token, token


class Writer:
    """Writes one lead and returns (lead id, t0): through the webhook, or the bench's own relay."""

    def __init__(
        self, base_url: str, webhook_token: str, tenant_id: UUID, database_url: str, redis_url: str
    ) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.webhook_token = webhook_token
        self.tenant_id = tenant_id
        self.database_url = database_url
        self.redis_url = redis_url
        self.mode = "webhook"
        self._engine: Any = None
        self._relay: EventRelay | None = None
        self._bus: EventBus | None = None

    async def start(self) -> None:
        probe = await self.http.post(f"/webhooks/lead/{self.webhook_token}", json={})
        if probe.status_code == 404 and "lead" not in probe.text.lower():
            self.mode = "direct (no webhook route on this branch): t0 = commit + publish"
            self._engine = create_engine(self.database_url, pool_size=2)
            self._bus = EventBus(self.redis_url)
            await self._bus.connect()
            self._relay = EventRelay(self._engine, self._bus)

    async def write(self, n: int) -> tuple[str, float]:
        phone = f"+1555{n % 10**7:07d}"
        if self._relay is None:
            response = await self.http.post(
                f"/webhooks/lead/{self.webhook_token}",
                json={"name": f"Bench Lead {n}", "phone": phone, "email": f"lead{n}@bench.example"},
            )
            t0 = time.perf_counter()
            assert response.status_code in (200, 201), response.text
            return str(response.json()["lead_id"]), t0
        async with transaction(self._engine) as tx:
            contact = (
                await tx.connection.execute(
                    insert(Contact).values(tenant_id=self.tenant_id, phone=phone).returning(Contact.id)
                )
            ).scalar_one()
            row = (
                await tx.connection.execute(
                    insert(Lead)
                    .values(tenant_id=self.tenant_id, contact_id=contact)
                    .returning(*[c for c in Lead.__table__.c if c.name != "raw_data"])
                )
            ).one()
            await tx.record(
                NewEvent(self.tenant_id, EventType.LEAD_CREATED, {"lead": snapshot(row), "contact": {}})
            )
        self._relay.committed([self.tenant_id])
        await self._relay.flush()
        return str(row.id), time.perf_counter()

    async def close(self) -> None:
        await self.http.aclose()
        if self._bus is not None:
            await self._bus.disconnect()
        if self._engine is not None:
            await self._engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between events")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    args = parser.parse_args()
    if not args.database_url or not args.redis_url:
        parser.error("DATABASE_URL and REDIS_URL (or --database-url/--redis-url) are required")

    tenant_id, webhook_token, token = await setup(args.database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CALLTRAX_JWT_SECRET": SECRET,
        "CALLTRAX_LOG_LEVEL": "WARNING",
        # Every subscriber signs in as the same admin: lift the per-user socket cap for them.
        "CALLTRAX_WS_MAX_PER_USER": str(args.subscribers + 10),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "calltrax.app:app_from_env",
        "--factory",
        "--port",
        str(port),
        "--ws-per-message-deflate",
        "false",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    writer = Writer(base_url, webhook_token, tenant_id, args.database_url, args.redis_url)
    subscribers = [Subscriber() for _ in range(args.subscribers)]
    tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{base_url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        await writer.start()
        await asyncio.sleep(0.5)
        rss_before = rss_mb(server.pid)
        started = time.perf_counter()
        ws_url = base_url.replace("http", "ws") + "/graphql"
        for batch in range(0, len(subscribers), 50):
            await asyncio.gather(*(s.open(ws_url, token, tenant_id) for s in subscribers[batch : batch + 50]))
        tasks = [asyncio.create_task(s.run()) for s in subscribers]
        # Warm-up events until every subscriber has seen one: then all subscriptions are live.
        for n in range(120):
            await writer.write(-1 - n)
            await asyncio.sleep(0.5)
            if all(s.received for s in subscribers):
                break
        await asyncio.sleep(1.0)
        connected_seconds = time.perf_counter() - started
        rss_after = rss_mb(server.pid)

        sent: dict[str, float] = {}
        for n in range(1, args.events + 1):
            lead_id, t0 = await writer.write(n)
            sent[lead_id] = t0
            await asyncio.sleep(args.interval)
        await asyncio.sleep(2.0)

        latencies = [
            s.received[lead] - t0 for s in subscribers for lead, t0 in sent.items() if lead in s.received
        ]
        expected = len(sent) * len(subscribers)
        print(f"write path:          {writer.mode}")
        print(f"subscribers:         {len(subscribers)} (all live after {connected_seconds:.1f} s)")
        print(f"events:              {len(sent)} at {args.interval}s intervals")
        print(
            f"deliveries:          {len(latencies)} / {expected}"
            f" ({'every subscriber got every event' if len(latencies) == expected else 'MISSING DELIVERIES'})"
        )
        if latencies:
            print(f"latency p50:         {statistics.median(latencies) * 1000:.1f} ms")
            print(f"latency p99:         {percentile(latencies, 0.99) * 1000:.1f} ms   (target < 250 ms)")
            print(f"latency max:         {max(latencies) * 1000:.1f} ms")
        added = rss_after - rss_before
        print(
            f"server RSS:          {rss_before:.1f} MB before sockets, {rss_after:.1f} MB after;"
            f" added {added:.1f} MB ({added * 1024 / max(1, len(subscribers)):.0f} KB per socket;"
            f" target < 100 MB per 1,000)"
        )
    finally:
        for task in tasks:
            task.cancel()
        for s in subscribers:
            if s.ws is not None:
                with contextlib.suppress(Exception):
                    await s.ws.close()
        await writer.close()
        server.terminate()
        await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
