"""`calltrax serve --workers 2`: an event written through one worker reaches a subscriber of the
other (through Redis), `/metrics` answers the sum of both from either, and the sweeps and the relay
alert and number every overdue lead exactly once while both run them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.tenants import TenantSettings
from tests.conftest import TEST_JWT_SECRET, free_port
from tests.sla.test_sla_alerts import (
    _all_alerted_and_numbered,
    _assert_one_event_per_breached_lead,
    _overdue_leads,
)
from tests.subscriptions.support import LEAD_CHANGED, GraphQLSocket, OwnRedis, graphql_socket
from tests.support_leads import eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds each connection's worker in /proc"),
]

REPO = Path(__file__).resolve().parents[2]


class Workers:
    """A running `calltrax serve --workers 2` and its worker processes."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def pids(self) -> set[int]:
        """The worker processes (children of serve that run the app, not multiprocessing's tracker)."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes()
                if int(fields[1]) == self.process.pid and b"spawn_main" in command:
                    found.add(int(stat.parent.name))
        return found

    async def accepted_by(self, client_port: int) -> int:
        """`worker_of`, once a worker has accepted the connection."""
        for _ in range(200):
            with contextlib.suppress(LookupError):
                return self.worker_of(client_port)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no worker accepted the connection from port {client_port}")

    def worker_of(self, client_port: int) -> int:
        """The worker holding the server side of the connection from local port `client_port`."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    local, remote = fields[1], fields[2]
                    if (
                        int(local.rsplit(":", 1)[1], 16) == self.port
                        and int(remote.rsplit(":", 1)[1], 16) == client_port
                    ):
                        inodes.add(f"socket:[{fields[9]}]")
        for pid in self.pids():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
        raise LookupError(f"no worker holds the connection from port {client_port}")


@contextlib.asynccontextmanager
async def serve_workers(database_url: str, redis_url: str) -> AsyncIterator[Workers]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="calltrax-workers-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CALLTRAX_", "PROMETHEUS_"))},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CALLTRAX_JWT_SECRET": TEST_JWT_SECRET,
        "CALLTRAX_SLA_SWEEP_SECONDS": "0.05",
        "CALLTRAX_DATA_DIR": data_dir,
        "CALLTRAX_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "calltrax", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = await asyncio.create_subprocess_exec(
        *command, "--workers", "2", cwd=REPO, env=env, start_new_session=True
    )
    workers = Workers(process, port)
    try:

        async def ready() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"serve --workers 2 exited with {process.returncode}")
            status, _, _ = await http_request(port, "GET", "/readyz")
            return status == 200 and len(workers.pids()) == 2

        await eventually(ready, within=60, interval=0.2)
        yield workers
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


async def http_request(
    port: int, method: str, path: str, body: bytes = b"", *, workers: Workers | None = None
) -> tuple[int, bytes, int | None]:
    """One request on a new connection (so each may land on either worker): status, body, and with
    `workers` the worker that held the connection."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0, b"", None
    try:
        # Asked before the request: once answered, the connection closes and belongs to no process.
        worker = None
        if workers is not None:
            worker = await workers.accepted_by(writer.get_extra_info("sockname")[1])
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer.split(b"\r\n\r\n", 1)[-1], worker


async def socket_on(
    workers: Workers, token: str, pid: int, stack: contextlib.AsyncExitStack
) -> GraphQLSocket:
    """A signed-in socket that landed on worker `pid` (new connections until one does)."""
    for _ in range(50):
        socket = await stack.enter_async_context(graphql_socket(workers.url, token))
        if await workers.accepted_by(socket.ws.local_address[1]) == pid:
            return socket
    raise AssertionError(f"no socket landed on worker {pid}")


async def post_leads_until_through(workers: Workers, lead_path: str, pid: int, posted: list[str]) -> None:
    """Post leads on new connections until one is served by worker `pid`; every lead's id (those the
    other worker took are leads all the same) is appended to `posted`, in order."""
    for _ in range(50):
        body = json.dumps(
            {"contact": {"name": "Jane Citizen", "phone": f"+614300{len(posted):05d}"}}
        ).encode()
        status, answer, worker = await http_request(workers.port, "POST", lead_path, body, workers=workers)
        assert status == 201, answer
        posted.append(str(json.loads(answer)["lead_id"]))
        if worker == pid:
            return
    raise AssertionError(f"no request landed on worker {pid}")


def metric(text: bytes, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$".encode(), text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_two_workers_share_events_and_metrics(
    database_url: str, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    own_redis.start()
    await own_redis.ready()
    tenant = await make_tenant()
    admin = await make_user("admin")
    async with serve_workers(database_url, own_redis.url) as workers, contextlib.AsyncExitStack() as stack:
        first, second = sorted(workers.pids())
        on_first = await socket_on(workers, admin.token, first, stack)
        on_second = await socket_on(workers, admin.token, second, stack)
        for socket in (on_first, on_second):
            # after: 0 replays whatever lands before the subscription is live.
            await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})

        posted: list[str] = []
        await post_leads_until_through(workers, tenant.lead_url, first, posted)
        await post_leads_until_through(workers, tenant.lead_url, second, posted)
        for socket in (on_first, on_second):
            received = await socket.results("leads", "leadChanged", len(posted))
            # Each worker's subscriber got the leads posted through the other worker too, in order.
            assert [change["lead"]["id"] for change in received] == posted
            assert [change["cursor"] for change in received] == list(range(1, len(posted) + 1))

        # Every scrape, whichever worker answers it, counts both workers' requests and sockets.
        lead_route = '{method="POST",route="/webhooks/lead/{token}",status="201"}'
        scraped_by = set()
        for _ in range(20):
            status, text, worker = await http_request(workers.port, "GET", "/metrics", workers=workers)
            assert status == 200
            assert worker is not None
            scraped_by.add(worker)
            assert metric(text, "calltrax_http_requests_total", lead_route) == len(posted)
            assert metric(text, "calltrax_webhook_outcomes_total", '{kind="lead",outcome="accepted"}') == len(
                posted
            )
            assert metric(text, "calltrax_open_subscriptions") == 2
            if scraped_by == {first, second}:
                break
        assert scraped_by == {first, second}, "every scrape landed on one worker"


async def test_two_workers_sweep_and_number_each_overdue_lead_once(
    database_url: str, make_tenant, engine: AsyncEngine, own_redis: OwnRedis
) -> None:
    """Both workers run the SLA sweep every 50 ms and their own relays; an advisory lock lets one
    sweep at a time, and numbering locks the tenant's sequence row, so nothing happens twice."""
    own_redis.start()
    await own_redis.ready()
    tenants = [await make_tenant(settings=TenantSettings(sla_seconds=300)) for _ in range(3)]
    async with serve_workers(database_url, own_redis.url):
        first = await _overdue_leads(engine, tenants, 150)
        await asyncio.sleep(0.2)
        second = await _overdue_leads(engine, tenants, 150)
        await eventually(lambda: _all_alerted_and_numbered(engine, len(first) + len(second)), within=30)
        await asyncio.sleep(0.5)  # more sweeps by both workers: none may alert again
    await _assert_one_event_per_breached_lead(engine, 300)
