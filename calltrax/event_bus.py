"""The only module that uses broadcaster's fan-out: publishes numbered events, and hands them to
listeners through bounded inboxes (one broadcaster subscription per channel, shared by its listeners)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from broadcaster import Broadcast

from calltrax.redis_backend import RESUBSCRIBED, RedisBackend
from domain.events import EventType, PublishedEvent, tenant_channel

log = logging.getLogger(__name__)

# Every event is also published here, for listeners that see every tenant (admins): new tenants
# need no resubscription, and Redis needs no pattern subscriptions.
ALL_TENANTS_CHANNEL = "calltrax.tenants.all"
DEFAULT_INBOX_SIZE = 256


def encode(event: PublishedEvent) -> str:
    return json.dumps(
        {
            "tenant_id": str(event.tenant_id),
            "seq": event.seq,
            "type": event.type.value,
            "payload": event.payload,
        },
        separators=(",", ":"),
        default=str,
    )


def decode(message: str) -> PublishedEvent:
    data: dict[str, Any] = json.loads(message)
    return PublishedEvent(
        tenant_id=UUID(data["tenant_id"]),
        seq=int(data["seq"]),
        type=EventType(data["type"]),
        payload=data["payload"],
    )


@dataclass(frozen=True)
class Resync:
    """Live delivery may have missed events of these tenants (None: all of the listener's): read the table."""

    tenant_ids: frozenset[UUID] | None = None


@dataclass(frozen=True)
class Wake:
    """The listener's owner asked it to look up from the queue (its caller's access changed)."""


WAKE = Wake()


class Inbox:
    """One listener's bounded queue. When it is full the backlog is dropped and replaced by a single
    `Resync`: the listener re-reads from its cursor, so a stuck one costs at most `size` events of
    memory and never slows the fan-out to the others."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[PublishedEvent | Resync | Wake] = asyncio.Queue(maxsize=size)
        self._overflowed = False
        self._woken = False

    def offer(self, item: PublishedEvent | Resync) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Resync())

    def wake(self) -> None:
        """Have `get` return `WAKE` next, ahead of anything queued (a full queue cannot delay it)."""
        self._woken = True
        if self._queue.empty():
            # Wakes a `get` that is waiting; one that is not sees the flag first.
            self._queue.put_nowait(WAKE)

    def pending(self) -> int:
        """How many items wait to be read."""
        return self._queue.qsize()

    async def get(self) -> PublishedEvent | Resync | Wake:
        if self._woken:
            self._woken = False
            return WAKE
        item = await self._queue.get()
        if isinstance(item, Wake):
            self._woken = False
            return item
        if isinstance(item, Resync) and item.tenant_ids is None:
            # From here on, events are queued again; the table read that follows covers the dropped ones.
            self._overflowed = False
        return item


class _Channel:
    """One broadcaster subscription feeding every inbox listening on a channel."""

    def __init__(self, bus: EventBus, name: str) -> None:
        self.name = name
        self.inboxes: set[Inbox] = set()
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._pump(bus), name=f"calltrax-bus:{name}")
        self.task.add_done_callback(_log_failure)

    async def _pump(self, bus: EventBus) -> None:
        async with bus._broadcast.subscribe(channel=self.name) as subscriber:
            self.ready.set()
            async for message in subscriber:  # type: ignore[union-attr]
                if message is None:
                    continue
                item: PublishedEvent | Resync
                if message.message == RESUBSCRIBED:
                    item = Resync()
                else:
                    try:
                        item = decode(message.message)
                    except (ValueError, KeyError):
                        log.error("dropping an undecodable message on %s", self.name)
                        continue
                    bus.mark_seen(item.tenant_id, item.seq)
                for inbox in list(self.inboxes):
                    inbox.offer(item)


class EventBus:
    """Fan-out of published events: in-process (`memory://`) or through Redis (`redis://`)."""

    def __init__(self, url: str, *, inbox_size: int = DEFAULT_INBOX_SIZE, channel_prefix: str = "") -> None:
        self.url = url
        self.inbox_size = inbox_size
        self._redis = (
            RedisBackend(url, channel_prefix=channel_prefix)
            if url.startswith(("redis://", "rediss://"))
            else None
        )
        self._broadcast = Broadcast(backend=self._redis) if self._redis else Broadcast(url)
        self._channels: dict[str, _Channel] = {}
        # The highest seq seen live per tenant: lets the subscriptions' watchdog spot lost publishes.
        self.last_seen: dict[UUID, int] = {}

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        for channel in list(self._channels.values()):
            channel.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await channel.task
        self._channels.clear()
        await self._broadcast.disconnect()

    async def publish(self, event: PublishedEvent) -> None:
        message = encode(event)
        await self._broadcast.publish(channel=tenant_channel(event.tenant_id), message=message)
        await self._broadcast.publish(channel=ALL_TENANTS_CHANNEL, message=message)

    async def announce(self, channel: str, message: str) -> None:
        """Publish a notice (not an event: no seq, no history) on a channel of its own."""
        await self._broadcast.publish(channel=channel, message=message)

    @contextlib.asynccontextmanager
    async def notices(self, channel: str) -> AsyncIterator[AsyncIterator[str | None]]:
        """The notices published on `channel` from now on; None after the broker reconnected (what
        was published meanwhile is lost)."""
        async with self._broadcast.subscribe(channel=channel) as subscriber:

            async def messages() -> AsyncIterator[str | None]:
                async for message in subscriber:  # type: ignore[union-attr]
                    if message is not None:
                        yield None if message.message == RESUBSCRIBED else message.message

            yield messages()

    async def ping(self) -> None:
        """Raise when the broker cannot be reached (readiness)."""
        if self._redis is not None:
            await self._redis.ping()

    @property
    def connected(self) -> bool:
        return self._redis is None or self._redis.connected.is_set()

    def mark_seen(self, tenant_id: UUID, seq: int) -> None:
        if seq > self.last_seen.get(tenant_id, 0):
            self.last_seen[tenant_id] = seq

    def resync(self, tenant_ids: frozenset[UUID]) -> None:
        """Tell the listeners of these tenants (and all-tenant listeners) to read the table."""
        item = Resync(tenant_ids)
        targets = [tenant_channel(tenant_id) for tenant_id in tenant_ids] + [ALL_TENANTS_CHANNEL]
        for name in targets:
            channel = self._channels.get(name)
            if channel is not None:
                for inbox in list(channel.inboxes):
                    inbox.offer(item)

    def listened_tenants(self) -> tuple[frozenset[UUID], bool]:
        """Tenants with a listener in this process, and whether some listener follows all tenants."""
        prefix = tenant_channel(UUID(int=0))[: -len(str(UUID(int=0)))]
        tenants = frozenset(UUID(name[len(prefix) :]) for name in self._channels if name.startswith(prefix))
        return tenants, ALL_TENANTS_CHANNEL in self._channels

    @contextlib.asynccontextmanager
    async def listen(self, tenant_ids: frozenset[UUID] | None) -> AsyncIterator[Inbox]:
        """Live events of these tenants (None: every tenant) from the moment this is entered."""
        names = (
            [ALL_TENANTS_CHANNEL]
            if tenant_ids is None
            else [tenant_channel(tenant_id) for tenant_id in sorted(tenant_ids)]
        )
        inbox = Inbox(self.inbox_size)
        joined: list[_Channel] = []
        try:
            for name in names:
                channel = self._channels.get(name)
                if channel is None:
                    channel = self._channels[name] = _Channel(self, name)
                channel.inboxes.add(inbox)
                joined.append(channel)
            for channel in joined:
                await _wait_ready(channel)
            yield inbox
        finally:
            for channel in joined:
                channel.inboxes.discard(inbox)
                if not channel.inboxes and self._channels.get(channel.name) is channel:
                    del self._channels[channel.name]
                    channel.task.cancel()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("event bus channel task failed", exc_info=task.exception())


async def _wait_ready(channel: _Channel) -> None:
    ready = asyncio.ensure_future(channel.ready.wait())
    done, _ = await asyncio.wait({ready, channel.task}, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        channel.task.result()  # raises why the subscription failed
        raise RuntimeError(f"subscription to {channel.name} ended before it was ready")
