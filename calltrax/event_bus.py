"""The only module that imports broadcaster: publishes numbered events and fans them out to subscribers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from broadcaster import Broadcast

from domain.events import EventType, PublishedEvent, tenant_channel

log = logging.getLogger(__name__)


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


class EventBus:
    """Fan-out of published events: in-process (`memory://`) or through Redis (`redis://`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, event: PublishedEvent) -> None:
        await self._broadcast.publish(channel=tenant_channel(event.tenant_id), message=encode(event))

    async def ping(self) -> None:
        """Raise when the broker cannot be reached (readiness)."""
        if self.url.startswith("memory://"):
            return
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def listen(self, tenant_id: UUID) -> AsyncIterator[PublishedEvent]:
        """Live events of one tenant as they are published (no replay; see subscriptions)."""
        async with self._broadcast.subscribe(channel=tenant_channel(tenant_id)) as subscriber:
            async for message in subscriber:  # type: ignore[union-attr]
                if message is not None:
                    yield decode(message.message)
