"""The event relay: numbers committed event rows per tenant in batches, then publishes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.event_bus import EventBus
from calltrax.observability import EVENTS_PUBLISHED
from persistence.events import number_pending, tenants_with_pending
from persistence.unit_of_work import transaction

log = logging.getLogger(__name__)

PUBLISH_SLICE = 50


class EventRelay:
    """Implements the `EventPublisher` port.

    Writers insert events with seq NULL and call `committed()`; one background task numbers them
    per tenant under the tenant's sequence-row lock and publishes in seq order. Many writes share
    one numbering transaction, so writers never serialise on a per-tenant counter, and a periodic
    sweep numbers rows whose writer died between commit and `committed()`."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus,
        *,
        sweep_seconds: float = 2.0,
        batch_pause_seconds: float = 0.01,
    ) -> None:
        self._batch_pause_seconds = batch_pause_seconds
        self._engine = engine
        self._bus = bus
        self._sweep_seconds = sweep_seconds
        self._dirty: set[UUID] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def committed(self, tenant_ids: Iterable[UUID]) -> None:
        self._dirty.update(tenant_ids)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="calltrax-event-relay")

    async def stop(self) -> None:
        """Let the loop finish its iteration, publish what is committed, and exit.

        Cancelling it mid-transaction could leave a pooled connection half-way through a rollback
        while the engine is being disposed; cancellation is only the last resort."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=3)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None

    async def flush(self) -> None:
        """Number and publish everything pending now (also used by tests and the CLI).

        A tenant that fails is kept for the next flush; the others are relayed all the same (one
        tenant's failure must not hold back every other tenant's events), then its error is raised."""
        tenants, self._dirty = self._dirty, set()
        failure: Exception | None = None
        for tenant_id in tenants:
            try:
                await self._relay(tenant_id)
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure

    async def drain(self) -> None:
        """Flush until nothing is pending (a batch numbers at most 5,000 events per tenant)."""
        while self._dirty:
            await self.flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        swept = loop.time()
        while not self._stopping:
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_seconds)
                self._wake.clear()
                # When idle, and at least every sweep period: a tenant that keeps failing stays
                # dirty, and must not keep the sweep from finding the other tenants' orphans.
                if (not self._dirty or loop.time() - swept >= self._sweep_seconds) and not self._stopping:
                    swept = loop.time()
                    await self._sweep()
                await self.flush()
                # Let the next batch gather: under load one numbering transaction then covers many
                # writes instead of a few (fewer commits for PostgreSQL, less CPU here).
                await asyncio.sleep(self._batch_pause_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database or broker is down: keep the work and try again shortly.
                log.exception("event relay failed; retrying")
                await asyncio.sleep(0.5)

    async def _sweep(self) -> None:
        async with self._engine.connect() as connection:
            self._dirty.update(await tenants_with_pending(connection))

    async def _relay(self, tenant_id: UUID) -> None:
        try:
            async with transaction(self._engine) as tx:
                events = await number_pending(tx, tenant_id)
        except Exception:
            self._dirty.add(tenant_id)
            raise
        for index, event in enumerate(events, start=1):
            await self._bus.publish(event)
            EVENTS_PUBLISHED.inc()
            if index % PUBLISH_SLICE == 0:
                # A large batch would otherwise hold the event loop and stall requests in flight.
                await asyncio.sleep(0)
        if len(events) >= 5000:
            self._dirty.add(tenant_id)
            self._wake.set()
