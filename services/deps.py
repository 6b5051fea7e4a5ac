"""What every use case is given: the database, the event publisher, the clock and the outside ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.destinations import DestinationPolicy
from domain.ports import AccessAnnouncer, Clock, DialpadGateway, EventPublisher, TokenVerifier
from persistence.unit_of_work import Transaction, read_only, transaction


@dataclass(frozen=True)
class Deps:
    engine: AsyncEngine
    publisher: EventPublisher
    clock: Clock
    tokens: TokenVerifier | None
    dialpad: DialpadGateway | None = None
    public_base_url: str = "http://localhost:8000"
    # The office new Dialpad call centers go in unless provisionClient names one.
    dialpad_office_id: str | None = None
    # Where webhook notification targets may point (public addresses unless the operator allows more).
    notify_destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    # Operations under way in this process, by what they do (see services.apply_call_event).
    in_flight: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)
    # Told after a commit that changed users' access, so open subscriptions re-read it (None: no
    # server here to tell, e.g. the CLI: servers then see the change on their periodic re-read).
    access: AccessAnnouncer | None = None

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Transaction]:
        """A transaction whose recorded events are handed to the publisher once it has committed, and
        whose access changes are announced before the use case returns (so before its answer)."""
        async with transaction(self.engine) as tx:
            yield tx
        if tx.event_tenants:
            self.publisher.committed(tx.event_tenants)
        if tx.access_changed and self.access is not None:
            await self.access.access_changed(tx.access_changed)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        async with read_only(self.engine) as connection:
            yield connection
