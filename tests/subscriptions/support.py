"""Test support: a websocket GraphQL client for both protocols, a server with its lifespan state,
and writers that record lead and call events through the real unit of work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import insert, update
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from domain.events import EventType, NewEvent
from persistence.snapshots import snapshot
from persistence.tables import Call, Contact, Lead
from services.deps import Deps
from tests.conftest import TEST_JWT_SECRET, channel_prefix, free_port, serve

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

LEAD_CHANGED = """
subscription ($tenantId: ID, $after: Int) {
  leadChanged(tenantId: $tenantId, after: $after) {
    kind cursor tenantId lead { id status stage contact { id } }
  }
}
"""
CALL_CHANGED = """
subscription ($tenantId: ID, $after: Int) {
  callChanged(tenantId: $tenantId, after: $after) { kind cursor tenantId call { id status } }
}
"""
PIPELINE_CHANGED = """
subscription ($tenantId: ID) {
  pipelineChanged(tenantId: $tenantId) { kind cursor tenantId leadId columns { stage title count } }
}
"""


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class GraphQLSocket:
    """One websocket speaking graphql-transport-ws or the legacy graphql-ws."""

    ws: ClientConnection
    protocol: str
    pending: list[dict[str, Any]] = field(default_factory=list)

    async def init(self, token: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )

    async def receive(self, within: float = 10.0) -> dict[str, Any]:
        """The next message (legacy keep-alives skipped); raises Closed when the server closed."""
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), timeout=within)
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                raise Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from closed
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") != "ka":
                return message

    async def data(self, op_id: str, within: float = 10.0) -> dict[str, Any]:
        """The next result of operation `op_id` (its `data`); raises on an error message."""
        for index, message in enumerate(self.pending):
            if message.get("id") == op_id:
                return _data(self.pending.pop(index))
        while True:
            message = await self.receive(within)
            if message.get("id") == op_id:
                return _data(message)
            self.pending.append(message)

    async def results(self, op_id: str, field_name: str, count: int, within: float = 10.0) -> list[Any]:
        return [(await self.data(op_id, within))[field_name] for _ in range(count)]

    async def nothing_for(self, seconds: float) -> None:
        """Assert no message arrives for `seconds`."""
        with contextlib.suppress(TimeoutError):
            message = await self.receive(within=seconds)
            raise AssertionError(f"unexpected message {message}")


class OperationError(Exception):
    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(json.dumps(message))
        payload = message.get("payload")
        errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or [payload]
        self.errors: list[dict[str, Any]] = errors
        self.codes = [(error or {}).get("extensions", {}).get("code") for error in errors]


def _data(message: dict[str, Any]) -> dict[str, Any]:
    if message["type"] in {"next", "data"} and not message["payload"].get("errors"):
        data: dict[str, Any] = message["payload"]["data"]
        return data
    raise OperationError(message)


@contextlib.asynccontextmanager
async def graphql_socket(
    base_url: str, token: str | None = None, *, protocol: str = TRANSPORT_WS, init: bool = True
) -> AsyncIterator[GraphQLSocket]:
    """A websocket on /graphql; with `init`, connection_init with the token is acknowledged first."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol(protocol)], compression=None) as ws:
        socket = GraphQLSocket(ws, protocol)
        if init:
            ack = await socket.init(token)
            assert ack["type"] == "connection_ack", ack
        yield socket


@dataclass
class Server:
    url: str
    state: dict[str, Any]

    @property
    def deps(self) -> Deps:
        deps: Deps = self.state["deps"]
        return deps

    async def live(self, count: int, within: float = 10.0) -> None:
        """Wait until `count` subscriptions are live on the server (joined, starting cursors read)."""
        for _ in range(int(within / 0.01)):
            if self.state["subscriber"].active >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"fewer than {count} subscriptions became live")


def capture_state(app: Starlette) -> dict[str, Any]:
    """The lifespan state of `app` once it starts (the relay, bus and deps a server really uses)."""
    captured: dict[str, Any] = {}
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with original(application) as state:
            captured.update(state or {})
            yield state

    app.router.lifespan_context = lifespan
    return captured


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[Server]:
    state = capture_state(app)
    async with serve(app) as url:
        yield Server(url, state)


async def write_lead(
    deps: Deps,
    tenant_id: UUID,
    *,
    event: EventType = EventType.LEAD_CREATED,
    lead_id: UUID | None = None,
    status: str = "new",
    from_status: str | None = None,
) -> UUID:
    """Insert (or update) a lead and record its event in the same transaction, as writers do."""
    async with deps.unit_of_work() as tx:
        if lead_id is None:
            contact_id = (
                await tx.connection.execute(
                    insert(Contact)
                    .values(tenant_id=tenant_id, phone=f"+1555{uuid.uuid4().int % 10**7:07d}")
                    .returning(Contact.id)
                )
            ).scalar_one()
            row = (
                await tx.connection.execute(
                    insert(Lead)
                    .values(tenant_id=tenant_id, contact_id=contact_id, status=status)
                    .returning(*[c for c in Lead.__table__.c if c.name != "raw_data"])
                )
            ).one()
        else:
            row = (
                await tx.connection.execute(
                    update(Lead)
                    .where(Lead.id == lead_id)
                    .values(status=status)
                    .returning(*[c for c in Lead.__table__.c if c.name != "raw_data"])
                )
            ).one()
        payload: dict[str, Any] = {"lead": snapshot(row), "contact": {}}
        if event is not EventType.LEAD_CREATED:
            payload["changes"] = ["status"]
        if from_status is not None:
            payload["from_status"] = from_status
        await tx.record(NewEvent(tenant_id, event, payload))
        lead: UUID = row.id
        return lead


async def write_call(deps: Deps, tenant_id: UUID, *, kind: str, call_id: UUID | None = None) -> UUID:
    """Insert or update a call row and record CALL_UPDATED with `kind`."""
    status = {"RINGING": "ringing", "CONNECTED": "connected"}.get(kind, "completed")
    columns = list(Call.__table__.c)
    async with deps.unit_of_work() as tx:
        if call_id is None:
            statement: Any = insert(Call).values(
                tenant_id=tenant_id, external_id=str(uuid.uuid4().int), direction="outbound", status=status
            )
        else:
            statement = update(Call).where(Call.id == call_id).values(status=status)
        row = (await tx.connection.execute(statement.returning(*columns))).one()
        await tx.record(NewEvent(tenant_id, EventType.CALL_UPDATED, {"call": snapshot(row), "kind": kind}))
        call: UUID = row.id
        return call


class OwnRedis:
    """A redis-server of this test's own on a free port (never the machine's shared one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


async def server_process(database_url: str, redis_url: str, **env: str) -> AsyncGenerator[str, None]:
    """Another server process (uvicorn in a subprocess) on the same database and Redis; yields its URL
    once ready, stops it when closed. `env` adds environment variables (settings) for it."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CALLTRAX_REDIS_CHANNEL_PREFIX": channel_prefix(database_url),
        "CALLTRAX_JWT_SECRET": TEST_JWT_SECRET,
        "CALLTRAX_LOG_LEVEL": "WARNING",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "uvicorn", "calltrax.app:app_from_env", "--factory", "--port", str(port)),
        *("--ws-per-message-deflate", "false"),
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            # Until it answers or exits: starting Python and importing the app takes well over 10 s
            # on a loaded machine; the deadline only ends a start that hangs.
            deadline = asyncio.get_running_loop().time() + 120
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"the second server process exited ({process.returncode})")
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError("the second server process never became ready")
                await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=15)
