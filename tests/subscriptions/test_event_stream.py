"""The subscriber behind the websockets: gap filling, lost publishes, slow consumers, retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.event_bus import EventBus
from calltrax.subscriptions import Subscriptions
from domain.events import EventType, NewEvent, PublishedEvent
from persistence.events import number_pending
from persistence.unit_of_work import transaction
from tests.conftest import channel_prefix

# Only ends a test that hangs; what a test shows comes from the order of events, not from time.
HANG_GUARD_SECONDS = 30


@pytest.fixture
async def bus(database_url: str, redis_url: str | None) -> AsyncIterator[EventBus]:
    bus = EventBus(redis_url or "memory://", inbox_size=8, channel_prefix=channel_prefix(database_url))
    await bus.connect()
    yield bus
    await bus.disconnect()


async def _number(engine: AsyncEngine, tenant_id: UUID, count: int) -> list[PublishedEvent]:
    """Write and number events without publishing them (a relay whose publishes were lost)."""
    async with transaction(engine) as tx:
        await tx.record(*[NewEvent(tenant_id, EventType.LEAD_UPDATED, {"n": n}) for n in range(count)])
    async with transaction(engine) as tx:
        return await number_pending(tx, tenant_id)


async def _live(subscriptions: Subscriptions, count: int) -> None:
    for _ in range(500):
        if subscriptions.active >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscriptions never became live")


async def _take(stream: AsyncIterator[PublishedEvent], count: int) -> list[int]:
    return [(await asyncio.wait_for(anext(stream), timeout=5)).seq for _ in range(count)]


async def test_a_seq_gap_in_the_live_stream_is_filled_from_the_table(
    engine: AsyncEngine, bus: EventBus, make_tenant
) -> None:
    tenant = await make_tenant()
    subscriptions = Subscriptions(engine, bus)
    stream = subscriptions.subscribe(frozenset({tenant.id}), None)
    first = asyncio.ensure_future(anext(stream))
    await _live(subscriptions, 1)
    events = await _number(engine, tenant.id, 5)
    # Only seq 4 and 5 arrive live, 5 before 4 (two relays racing): 1-3 come from the table.
    await bus.publish(events[4])
    await bus.publish(events[3])
    assert (await asyncio.wait_for(first, 5)).seq == 1
    assert await _take(stream, 4) == [2, 3, 4, 5]
    events = await _number(engine, tenant.id, 1)
    await bus.publish(events[0])
    assert await _take(stream, 1) == [6]
    await stream.aclose()  # type: ignore[attr-defined]


async def test_the_watchdog_recovers_a_last_event_whose_publish_was_lost(
    engine: AsyncEngine, bus: EventBus, make_tenant
) -> None:
    tenant = await make_tenant()
    subscriptions = Subscriptions(engine, bus, watchdog_seconds=0.2)
    await subscriptions.start()
    try:
        stream = subscriptions.subscribe(frozenset({tenant.id}), None)
        first = asyncio.ensure_future(anext(stream))
        await _live(subscriptions, 1)
        await _number(engine, tenant.id, 2)  # never published, and nothing follows them
        assert (await asyncio.wait_for(first, 5)).seq == 1
        assert await _take(stream, 1) == [2]
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await subscriptions.stop()


async def test_a_stuck_subscriber_never_delays_the_others_and_resyncs_from_its_cursor(
    engine: AsyncEngine, bus: EventBus, make_tenant
) -> None:
    tenant = await make_tenant()
    subscriptions = Subscriptions(engine, bus)
    fast = subscriptions.subscribe(frozenset({tenant.id}), None)
    stuck = subscriptions.subscribe(None, None)  # an admin's all-tenant stream, not read for a while
    fast_first = asyncio.ensure_future(anext(fast))
    stuck_first = asyncio.ensure_future(anext(stuck))
    await _live(subscriptions, 2)
    total = 50  # the inboxes hold 8
    fast_seqs: list[int] = []
    for _ in range(total):
        event = (await _number(engine, tenant.id, 1))[0]
        await bus.publish(event)
        # No time limit makes the point (one would fail on a loaded machine): the stuck stream is not
        # read until all 50 reached the fast one, so a fan-out that waited on it would hang here.
        fast_seqs.append((await asyncio.wait_for(fast_first, HANG_GUARD_SECONDS)).seq)
        fast_first = asyncio.ensure_future(anext(fast))
    assert fast_seqs == list(range(1, total + 1))
    assert (await asyncio.wait_for(stuck_first, 5)).seq == 1
    assert await _take(stuck, total - 1) == list(range(2, total + 1))
    fast_first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await fast_first
    await fast.aclose()  # type: ignore[attr-defined]
    await stuck.aclose()  # type: ignore[attr-defined]


async def test_buses_with_different_channel_prefixes_share_a_redis_without_hearing_each_other(
    redis_url: str | None, make_tenant
) -> None:
    if redis_url is None:
        pytest.skip("needs TEST_REDIS_URL (the in-process bus has no channels to share)")
    tenant = await make_tenant()
    buses = {prefix: EventBus(redis_url, channel_prefix=prefix) for prefix in ("run-a:", "run-b:")}
    for bus in buses.values():
        await bus.connect()
    try:
        async with buses["run-b:"].listen(frozenset({tenant.id})) as inbox:
            # One Redis answers both publishes in order: had the first reached run-b, it would come first.
            await buses["run-a:"].publish(PublishedEvent(tenant.id, 1, EventType.LEAD_UPDATED, {"run": "a"}))
            await buses["run-b:"].publish(PublishedEvent(tenant.id, 2, EventType.LEAD_UPDATED, {"run": "b"}))
            received = await asyncio.wait_for(inbox.get(), HANG_GUARD_SECONDS)
            assert isinstance(received, PublishedEvent)
            assert received.payload == {"run": "b"}
            assert inbox.pending() == 0
    finally:
        for bus in buses.values():
            await bus.disconnect()


async def test_retention_prunes_numbered_events_older_than_the_period(
    make_app, engine: AsyncEngine, make_tenant
) -> None:
    from asgi_lifespan import LifespanManager

    tenant = await make_tenant()
    await _number(engine, tenant.id, 3)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE events SET created_at = :at WHERE seq <= 2"),
            {"at": datetime.now(UTC) - timedelta(days=31)},
        )
    # The app prunes once at start, then hourly.
    async with LifespanManager(make_app(event_retention_days=30)):
        for _ in range(100):
            async with engine.connect() as connection:
                seqs = (await connection.execute(text("SELECT seq FROM events ORDER BY seq"))).scalars().all()
            if seqs == [3]:
                break
            await asyncio.sleep(0.05)
    assert seqs == [3]
