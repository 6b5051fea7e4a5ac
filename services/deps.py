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
from persistence.db import DEFAULT_POOL_SIZE
from persistence.unit_of_work import EventLog, Statements, Transaction, read_only, statements, transaction
from services.call_hints import CallEventHints
from services.intake_hints import IntakeHints


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
    # Held by webhook writes while they use a connection of `engine`, so they leave some of its pool
    # to the rest of the process (calltrax/runtime.py `write_gate` sizes it from the pool). A Deps
    # built outside a runtime (a test, a bench) gets one as wide as the default pool.
    write_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(DEFAULT_POOL_SIZE))
    # Per-process hints of the call event path (services/call_hints.py), shared by every Deps of the
    # runtime (dataclasses.replace keeps them).
    call_hints: CallEventHints = field(default_factory=CallEventHints)
    # And of the lead intake (services/intake_hints.py), shared the same way.
    intake_hints: IntakeHints = field(default_factory=IntakeHints)

    # The two ways a use case writes, and together the only door to the publisher: every event row
    # written is published once its write has committed (docs/architecture.md, "Where each rule lives").
    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Transaction]:
        """A transaction whose recorded events are handed to the publisher once it has committed, and
        whose access changes are announced before the use case returns (so before its answer)."""
        async with transaction(self.engine) as tx:
            yield tx
        self._publish(tx)
        if tx.access_changed and self.access is not None:
            await self.access.access_changed(tx.access_changed)

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[Statements]:
        """Single statements in autocommit, each atomic on its own; the events they record are handed
        to the publisher when the block ends (also when it ends in an error after one committed)."""
        work: Statements | None = None
        try:
            async with statements(self.engine) as work:
                yield work
        finally:
            if work is not None:
                self._publish(work)

    def _publish(self, work: EventLog) -> None:
        if work.event_tenants:
            self.publisher.committed(work.event_tenants)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        async with read_only(self.engine) as connection:
            yield connection
