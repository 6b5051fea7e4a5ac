"""A lean graphql-transport-ws client for load generators: thousands of sockets per process.

The `websockets` library costs tens of microseconds of CPU per frame on top of its handshake; with
10,000 sockets on a 2-core machine that is CPU the server under test does not get. This client is an
asyncio Protocol that writes the upgrade request and two pre-built frames, answers pings, and finds
a lead id in each `next` message by a substring search (no JSON parsing)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import struct
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection

# A client's frames must be masked; a zero key masks with no work (the server cannot tell).
_ZERO_MASK = b"\x00\x00\x00\x00"
_LEAD_ID = b'"lead":{"id":"'


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, masked frame (zero key) carrying `payload`."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + _ZERO_MASK + payload


class SubscriberProtocol(asyncio.Protocol):
    """One dashboard: upgrade, connection_init, then one subscribe; records each lead id it receives
    with the monotonic time it arrived (comparable across processes on one machine)."""

    def __init__(
        self, host: str, port: int, init: bytes, subscribe: bytes, on_ack: Callable[[], None]
    ) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self._request = (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        self._init = client_frame(init)
        self._subscribe = client_frame(subscribe)
        self._on_ack = on_ack
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._upgraded = False
        self.acked_at: float | None = None
        self.received: dict[str, float] = {}
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101"):
                self.error = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self.close()
                return
            self._upgraded = True
            assert self._transport is not None
            self._transport.write(self._init)
        self._frames()

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length = struct.unpack_from("!H", buffer, 2)[0]
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length = struct.unpack_from("!Q", buffer, 2)[0]
                offset = 10
            if len(buffer) < offset + length:
                break
            payload = buffer[offset : offset + length]
            buffer = buffer[offset + length :]
            self._message(opcode, payload)
        self._buffer = buffer

    def _message(self, opcode: int, payload: bytes) -> None:
        assert self._transport is not None
        if opcode == 0x1:
            at = payload.find(_LEAD_ID)
            if at >= 0:
                start = at + len(_LEAD_ID)
                self.received[payload[start : payload.index(b'"', start)].decode()] = time.monotonic()
            elif b'"connection_ack"' in payload:
                self.acked_at = time.monotonic()
                self._transport.write(self._subscribe)
                self._on_ack()
            elif b'"error"' in payload or b'"complete"' in payload:
                self.error = payload[:200].decode(errors="replace")
        elif opcode == 0x9:
            self._transport.write(client_frame(payload, opcode=0xA))
        elif opcode == 0x8:
            self.close_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
            self.close()


def run_clients(
    conn: Connection,
    targets: list[tuple[str, int]],
    plan: list[tuple[int, int]],
    tokens: list[str],
    tenant_id: str,
    query: str,
    storm: bool,
) -> None:
    """A client process: opens one socket per `plan` entry (target index, token index) when told
    "go" (all at once with `storm`, else 50 at a time), then answers "report" with what arrived."""
    raise_open_files_limit()
    asyncio.run(_clients(conn, targets, plan, tokens, tenant_id, query, storm))


def raise_open_files_limit() -> None:
    """Open files up to the hard limit: each socket is one (10,000 sockets need more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _clients(
    conn: Connection,
    targets: list[tuple[str, int]],
    plan: list[tuple[int, int]],
    tokens: list[str],
    tenant_id: str,
    query: str,
    storm: bool,
) -> None:
    loop = asyncio.get_running_loop()
    inits = [
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}).encode()
        for token in tokens
    ]
    subscribe = json.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"t": tenant_id}}}
    ).encode()
    sockets: list[SubscriberProtocol] = []
    retries = 0
    failures: Counter[str] = Counter()

    def acked() -> None:
        pass

    async def open_one(target: int, token: int) -> None:
        nonlocal retries
        host, port = targets[target]
        for attempt in range(30):
            try:
                _, protocol = await loop.create_connection(
                    lambda: SubscriberProtocol(host, port, inits[token], subscribe, acked), host, port
                )
            except OSError as error:
                retries += 1
                if attempt == 29:
                    failures[type(error).__name__] += 1
                    return
                await asyncio.sleep(0.1 * (attempt + 1))
                continue
            sockets.append(protocol)
            return

    conn.send("ready")
    assert await loop.run_in_executor(None, conn.recv) == "go"
    if storm:
        await asyncio.gather(*(open_one(target, token) for target, token in plan))
    else:
        for start in range(0, len(plan), 50):
            await asyncio.gather(*(open_one(target, token) for target, token in plan[start : start + 50]))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "close":
            break
        wanted = set(command)
        for socket in sockets:
            if socket.error:
                failures[socket.error[:80]] += 1
            if socket.close_code is not None:
                failures[f"closed {socket.close_code}"] += 1
        conn.send(
            {
                "opened": len(sockets),
                "acked": [s.acked_at for s in sockets if s.acked_at is not None],
                "received": [
                    {lead: at for lead, at in s.received.items() if lead in wanted} for s in sockets
                ],
                "retries": retries,
                "failures": dict(failures),
            }
        )
        failures.clear()
    for socket in sockets:
        socket.close()
