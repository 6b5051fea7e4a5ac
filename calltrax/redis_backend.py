"""broadcaster's Redis backend, ours: starts without Redis, reconnects, resubscribes and says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as redis
from broadcaster import BroadcastBackend, Event
from redis.asyncio.client import PubSub
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)

# Delivered on a channel after it was (re)subscribed on a fresh connection: whatever was published
# while the connection was down is gone from pub/sub, so listeners must read the event table.
# The event bus never publishes an empty message, so this cannot collide with an event.
RESUBSCRIBED = ""

CONNECT_TIMEOUT_SECONDS = 2.0
SUBSCRIBE_ACK_TIMEOUT_SECONDS = 2.0
# Silence longer than this makes the listener ping; a ping unanswered as long drops the connection.
IDLE_PING_SECONDS = 5.0


class RedisBackend(BroadcastBackend):
    """Pub/sub on one dedicated connection, owned by one listener task.

    broadcaster 0.3.1's own backend loses its listener on the first connection error and, with
    redis-py 8's default 5 s socket timeout, never starts listening at all (docs/architecture.md, "Libraries"). Here the
    listener reads with explicit short timeouts (never the socket timeout), and any error closes
    the connection and opens a new one with backoff, resubscribing every channel and emitting
    `RESUBSCRIBED` on each once Redis acknowledges it. redis-py's own silent reconnect is disabled
    (no retries), so no reconnect can happen without the listeners hearing of it."""

    def __init__(self, url: str, *, channel_prefix: str = "", max_backoff_seconds: float = 2.0) -> None:
        self._url = url
        # Pub/sub channels are server-wide (Redis database numbers do not separate them): deployments
        # or test runs sharing one Redis keep apart by prefixing every channel name on the wire.
        self._prefix = channel_prefix
        self._max_backoff = max_backoff_seconds
        # Publishing may retry: a publish either reaches Redis or raises (the event table has it).
        self._publisher = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 2),
        )
        self._channels: set[str] = set()
        self._acks: dict[str, list[asyncio.Future[None]]] = {}
        self._announce: set[str] = set()
        self._pubsub: PubSub | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self._session_worked = False

    async def connect(self) -> None:
        # Waits briefly, never fails: the app starts while Redis is down and catches up once it is back.
        self._task = asyncio.create_task(self._listen(), name="calltrax-redis-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=CONNECT_TIMEOUT_SECONDS)

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        """Subscribe and wait for Redis to confirm; while Redis is down, the reconnect subscribes it."""
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None or not self.connected.is_set():
            return
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.setdefault(channel, []).append(ack)
        try:
            await pubsub.subscribe(self._wire(channel))
            await asyncio.wait_for(asyncio.shield(ack), timeout=SUBSCRIBE_ACK_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError):
            # The connection is failing; the listener reconnects and resubscribes (and announces it).
            log.warning("subscribing to %s failed; it follows the reconnect", channel)
        finally:
            waiters = self._acks.get(channel, [])
            if ack in waiters:
                waiters.remove(ack)
            if not waiters:
                self._acks.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None and self.connected.is_set():
            # A closing connection may fail any way it likes; the channel is forgotten regardless.
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe(self._wire(channel))

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(self._wire(channel), message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def ping(self) -> None:
        """Raise unless Redis answers now (readiness)."""
        await self._publisher.ping()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._session()
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("redis pub/sub connection unavailable (%s); reconnecting", error)
            # A connection that worked resets the backoff; repeated failures wait longer.
            backoff = 0.1 if self._session_worked else min(backoff * 2, self._max_backoff)
            await asyncio.sleep(backoff)

    async def _session(self) -> None:
        """One connection's life: connect, resubscribe, relay messages until it fails."""
        self._session_worked = False
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub()
        self._pubsub = pubsub
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            channels = set(self._channels)
            self._announce = set(channels)
            if channels:
                await pubsub.subscribe(*sorted(map(self._wire, channels)))
            self.connected.set()
            # Channels added while the resubscription above was in flight.
            if missing := self._channels - channels:
                self._announce |= missing
                await pubsub.subscribe(*sorted(map(self._wire, missing)))
            if self.connections:
                log.info("redis pub/sub reconnected; %d channels resubscribed", len(self._channels))
            self.connections += 1
            self._session_worked = True
            await self._relay(pubsub)
        finally:
            self.connected.clear()
            self._pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _relay(self, pubsub: PubSub) -> None:
        """Hand messages to broadcaster; reads use short explicit timeouts, idle links are pinged."""
        idle = 0.0
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None:
                idle, pinged = 0.0, False
                self._handle(message)
                continue
            idle += 1.0
            if idle >= IDLE_PING_SECONDS:
                if pinged:
                    raise TimeoutError("redis did not answer a ping")
                await pubsub.ping()
                idle, pinged = 0.0, True

    def _wire(self, channel: str) -> str:
        return self._prefix + channel

    def _logical(self, wire: str) -> str:
        return wire[len(self._prefix) :] if wire.startswith(self._prefix) else wire

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            channel = self._logical(_text(message["channel"]))
            self._queue.put_nowait(Event(channel=channel, message=_text(message["data"])))
        elif kind == "subscribe":
            channel = self._logical(_text(message["channel"]))
            for ack in self._acks.get(channel, []):
                if not ack.done():
                    ack.set_result(None)
            if channel in self._announce:
                self._announce.discard(channel)
                self._queue.put_nowait(Event(channel=channel, message=RESUBSCRIBED))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
