"""The `EventSubscriber`: live events per tenant in seq order, replayed and gap-filled from the table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.batching import Coalescer
from calltrax.event_bus import EventBus, Resync, Wake
from calltrax.observability import OPEN_SUBSCRIPTIONS
from domain.events import PublishedEvent
from domain.ports import SubscriptionGuard
from persistence.events import ReplayRange, all_latest_seqs, latest_seqs, read_after_many
from persistence.unit_of_work import read_only

log = logging.getLogger(__name__)

REPLAY_BATCH = 500


class Subscriptions:
    """Implements `EventSubscriber` on the event bus and the `events` table.

    Each subscription joins its channels first, then reads where it starts, so nothing published
    meanwhile is missed; every later event is checked against the subscription's cursor per
    tenant: an old seq is a duplicate (dropped), a seq past the next one means live delivery lost
    or reordered something, and the missing run is read from the table (numbering is serial per
    tenant, so a published seq implies every lower seq is committed). After a Redis reconnect, an
    inbox overflow, or the watchdog seeing the table ahead of what arrived live, the subscription
    re-reads its tenants from its cursors. Database connections are held per read, never between
    events.

    Where subscriptions start and what they replay is read in batches: every subscription asking
    meanwhile shares one statement (a reconnect storm of 10,000 dashboards costs a few dozen reads,
    on at most one connection per kind), and the ones replaying the same range share its rows."""

    def __init__(
        self, engine: AsyncEngine, bus: EventBus, *, watchdog_seconds: float = 3.0, batch: int = REPLAY_BATCH
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._watchdog_seconds = watchdog_seconds
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        # Subscriptions past their starting point (live from here on): for metrics and tests.
        self.active = 0
        self._latest: Coalescer[UUID, int] = Coalescer(self._load_latest, name="calltrax-latest-seqs")
        self._all_latest: Coalescer[None, dict[UUID, int]] = Coalescer(
            self._load_all_latest, name="calltrax-all-latest-seqs"
        )
        self._replays: Coalescer[ReplayRange, list[PublishedEvent]] = Coalescer(
            self._load_replays, max_batch=200, name="calltrax-replays"
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watchdog(), name="calltrax-subscriptions-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for coalescer in (self._latest, self._all_latest, self._replays):
            await coalescer.close()

    async def _load_latest(self, tenant_ids: list[UUID]) -> dict[UUID, int]:
        async with read_only(self._engine) as connection:
            return await latest_seqs(connection, tenant_ids)

    async def _load_all_latest(self, keys: list[None]) -> dict[None, dict[UUID, int]]:
        async with read_only(self._engine) as connection:
            return {None: await all_latest_seqs(connection)}

    async def _load_replays(self, ranges: list[ReplayRange]) -> dict[ReplayRange, list[PublishedEvent]]:
        async with read_only(self._engine) as connection:
            return await read_after_many(connection, ranges, limit=self._batch)

    async def subscribe(
        self,
        tenant_ids: frozenset[UUID] | None,
        after: dict[UUID, int] | None,
        guard: SubscriptionGuard | None = None,
    ) -> AsyncIterator[PublishedEvent]:
        """Events of `tenant_ids` (None: every tenant); with `after`, first those past those cursors.
        With a guard, each event (replayed, caught up or live) is yielded only if the guard lets it
        through, and a change of the caller's access wakes the subscription to ask the guard."""
        stream = self._stream(tenant_ids, after, guard)
        try:
            async for item in stream:
                if isinstance(item, Wake):
                    assert guard is not None
                    await guard.check(None)
                    continue
                if guard is not None and not guard.allows(item.tenant_id):
                    await guard.check(item.tenant_id)
                yield item
        finally:
            await stream.aclose()

    async def _stream(
        self,
        tenant_ids: frozenset[UUID] | None,
        after: dict[UUID, int] | None,
        guard: SubscriptionGuard | None,
    ) -> AsyncGenerator[PublishedEvent | Wake, None]:
        counted = False
        stop_waking: Callable[[], None] | None = None
        try:
            async with self._bus.listen(tenant_ids) as inbox:
                if guard is not None:
                    stop_waking = guard.on_change(inbox.wake)
                # Joined before reading where to start: anything numbered from here on arrives live.
                cursors = await self._starting_cursors(tenant_ids)
                self.active += 1
                OPEN_SUBSCRIPTIONS.inc()
                counted = True
                replay = dict(after or {})
                for tenant_id, cursor in replay.items():
                    if tenant_ids is None or tenant_id in tenant_ids:
                        cursors[tenant_id] = cursor
                for tenant_id in sorted(replay, key=str):
                    if tenant_id in cursors:
                        async for event in self._catch_up(cursors, tenant_id):
                            yield event
                while True:
                    item = await inbox.get()
                    if isinstance(item, Wake):
                        yield item
                        continue
                    if isinstance(item, Resync):
                        for tenant_id in await self._resync_targets(cursors, tenant_ids, item):
                            async for event in self._catch_up(cursors, tenant_id):
                                yield event
                        continue
                    if tenant_ids is not None and item.tenant_id not in tenant_ids:
                        continue
                    # A tenant an all-tenant listener has not met had no events when it started.
                    cursor = cursors.setdefault(item.tenant_id, 0)
                    if item.seq <= cursor:
                        continue
                    if item.seq > cursor + 1:
                        async for event in self._catch_up(cursors, item.tenant_id, until=item.seq):
                            yield event
                        if item.seq <= cursors[item.tenant_id]:
                            continue
                    cursors[item.tenant_id] = item.seq
                    yield item
        finally:
            if stop_waking is not None:
                stop_waking()
            if counted:
                self.active -= 1
                OPEN_SUBSCRIPTIONS.dec()

    async def _starting_cursors(self, tenant_ids: frozenset[UUID] | None) -> dict[UUID, int]:
        """Where each tenant's history ends now: read after this call began (with the other
        subscriptions starting meanwhile), so nothing published after the join is skipped."""
        if tenant_ids is None:
            return dict(await self._all_latest.get(None))
        return await self._latest.get_many(sorted(tenant_ids, key=str))

    async def _resync_targets(
        self, cursors: dict[UUID, int], tenant_ids: frozenset[UUID] | None, resync: Resync
    ) -> Iterable[UUID]:
        targets = resync.tenant_ids if resync.tenant_ids is not None else tenant_ids
        if targets is not None:
            return sorted((t for t in targets if tenant_ids is None or t in tenant_ids), key=str)
        # An all-tenant listener: only the tenants whose history grew past its cursors.
        async with read_only(self._engine) as connection:
            latest = await all_latest_seqs(connection)
        return sorted((t for t, seq in latest.items() if seq > cursors.get(t, 0)), key=str)

    async def _catch_up(
        self, cursors: dict[UUID, int], tenant_id: UUID, *, until: int | None = None
    ) -> AsyncIterator[PublishedEvent]:
        """Read the tenant's events after its cursor (up to `until` inclusive) in batches."""
        while True:
            cursor = cursors.setdefault(tenant_id, 0)
            before = None if until is None else until + 1
            events = await self._replays.get((tenant_id, cursor, before))
            for event in events:
                cursors[tenant_id] = event.seq
                yield event
            if len(events) < self._batch:
                return

    async def _watchdog(self) -> None:
        """Publishes can be lost (Redis down at the moment a relay published): when the table stays
        ahead of what arrived live for a whole period, the listeners of that tenant re-read it."""
        behind: dict[UUID, int] = {}
        while True:
            await asyncio.sleep(self._watchdog_seconds)
            try:
                behind = await self._check(behind)
            except Exception:
                log.warning("subscription watchdog could not read the event table", exc_info=True)

    async def _check(self, previously_behind: dict[UUID, int]) -> dict[UUID, int]:
        tenants, everyone = self._bus.listened_tenants()
        if not tenants and not everyone:
            return {}
        async with read_only(self._engine) as connection:
            latest = (
                await all_latest_seqs(connection)
                if everyone
                else await latest_seqs(connection, sorted(tenants, key=str))
            )
        seen = self._bus.last_seen
        behind = {tenant: seq for tenant, seq in latest.items() if seq > seen.get(tenant, 0)}
        # Only what was already behind last time: a publish may simply be in flight right now.
        lost = frozenset(t for t, seq in previously_behind.items() if seen.get(t, 0) < seq)
        if lost:
            log.info("events of %d tenants did not arrive live; listeners re-read the table", len(lost))
            self._bus.resync(lost)
            for tenant in lost:
                # Counted as seen: the listeners now read up to here themselves.
                self._bus.mark_seen(tenant, previously_behind[tenant])
        return behind
