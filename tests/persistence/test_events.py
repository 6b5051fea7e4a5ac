"""Event rows: concurrent writers get a dense, gap-free seq per tenant once the relay numbers them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import EventType, NewEvent
from persistence.events import latest_seqs, number_pending, read_after, tenants_with_pending
from persistence.unit_of_work import transaction


async def _write(engine: AsyncEngine, tenant_id: object, n: int) -> None:
    async with transaction(engine) as tx:
        await tx.record(NewEvent(tenant_id, EventType.LEAD_CREATED, {"n": n}))  # type: ignore[arg-type]


async def test_concurrent_writers_and_numberers_give_dense_seqs(engine: AsyncEngine, make_tenant) -> None:
    first, second = await make_tenant(), await make_tenant()

    async def number(tenant_id: object) -> list[int]:
        async with transaction(engine) as tx:
            return [event.seq for event in await number_pending(tx, tenant_id)]  # type: ignore[arg-type]

    writes = [_write(engine, tenant.id, n) for n in range(40) for tenant in (first, second)]
    numberers = [number(tenant.id) for _ in range(6) for tenant in (first, second)]
    await asyncio.gather(*writes, *numberers)
    await number(first.id)
    await number(second.id)

    async with engine.connect() as connection:
        for tenant in (first, second):
            events = await read_after(connection, tenant.id, 0)
            assert [event.seq for event in events] == list(range(1, 41))
            assert sorted(event.payload["n"] for event in events) == list(range(40))
        assert await latest_seqs(connection, [first.id, second.id]) == {first.id: 40, second.id: 40}
        assert await tenants_with_pending(connection) == []
        assert (await connection.execute(text("SELECT count(*) FROM events WHERE seq IS NULL"))).scalar() == 0


async def test_a_rolled_back_write_leaves_no_event(engine: AsyncEngine, make_tenant) -> None:
    tenant = await make_tenant()
    try:
        async with transaction(engine) as tx:
            await tx.record(NewEvent(tenant.id, EventType.LEAD_CREATED, {}))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM events"))).scalar() == 0


async def test_the_relay_publishes_committed_events_in_seq_order(
    make_app, engine: AsyncEngine, make_tenant
) -> None:
    app = make_app()
    async with LifespanManager(app) as manager:
        await _publish_five_and_listen(manager._state, engine, await make_tenant())


async def _publish_five_and_listen(state: dict[str, Any], engine: AsyncEngine, tenant: Any) -> None:
    received: list[int] = []
    async with state["bus"].listen(frozenset({tenant.id})) as inbox:
        for n in range(5):
            await _write(engine, tenant.id, n)
        state["relay"].committed([tenant.id])
        while len(received) < 5:
            received.append((await asyncio.wait_for(inbox.get(), timeout=5)).seq)
    assert received == [1, 2, 3, 4, 5]


async def test_the_relay_sweep_numbers_events_whose_writer_never_told_it(
    app, engine: AsyncEngine, make_tenant
) -> None:
    tenant = await make_tenant()
    await _write(engine, tenant.id, 1)
    # Nobody calls committed(): the periodic sweep (2 s) must still number and publish it.
    for _ in range(50):
        async with engine.connect() as connection:
            if await read_after(connection, tenant.id, 0):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the sweep never numbered the orphaned event")


async def test_a_tenant_deleted_with_events_pending_numbers_nothing(engine: AsyncEngine, make_tenant) -> None:
    # The relay is told which tenants have new events; one deleted since (its events go with it)
    # used to fail the numbering on the sequence row's foreign key, on every retry.
    tenant = await make_tenant()
    await _write(engine, tenant.id, 1)
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
    async with transaction(engine) as tx:
        assert await number_pending(tx, tenant.id) == []


async def test_one_tenant_failing_does_not_hold_back_the_others_events(
    engine: AsyncEngine, make_tenant
) -> None:
    # A row this process cannot read (an event type from a newer version, during a rolling deploy)
    # fails its tenant's numbering; the other tenants flushed with it are numbered all the same, and
    # the failed tenant is kept for the next flush.
    from calltrax.event_bus import EventBus
    from calltrax.relay import EventRelay

    first, second = await make_tenant(), await make_tenant()
    await _write(engine, first.id, 1)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO events (tenant_id, type, payload) VALUES (:t, 'FROM_A_NEWER_VERSION', '{}')"),
            {"t": first.id},
        )
    await _write(engine, second.id, 2)
    bus = EventBus("memory://")
    await bus.connect()
    relay = EventRelay(engine, bus)

    async def numbered() -> dict[object, int]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tenant_id, count(seq) FROM events GROUP BY tenant_id")
            )
            return {row[0]: row[1] for row in rows}

    try:
        # Either order of the two tenants in the flush.
        for order in ([first.id, second.id], [second.id, first.id]):
            relay.committed(order)
            with pytest.raises(ValueError):
                await relay.flush()
            assert (await numbered())[second.id] == 1
        assert (await numbered())[first.id] == 0
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM events WHERE type = 'FROM_A_NEWER_VERSION'"))
        await relay.flush()
        assert (await numbered())[first.id] == 1
    finally:
        await bus.disconnect()


async def test_the_sweep_finds_orphaned_events_while_a_tenant_keeps_failing(
    engine: AsyncEngine, make_tenant
) -> None:
    # An event whose writer died between its commit and telling the relay is found by the sweep;
    # a tenant whose numbering keeps failing (kept dirty for the next flush) must not stop it.
    from calltrax.event_bus import EventBus
    from calltrax.relay import EventRelay

    failing, orphaned = await make_tenant(), await make_tenant()
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO events (tenant_id, type, payload) VALUES (:t, 'FROM_A_NEWER_VERSION', '{}')"),
            {"t": failing.id},
        )
    bus = EventBus("memory://")
    await bus.connect()
    relay = EventRelay(engine, bus, sweep_seconds=0.2)
    await relay.start()
    try:
        relay.committed([failing.id])
        await asyncio.sleep(0.5)
        await _write(engine, orphaned.id, 1)  # committed, never announced
        for _ in range(50):
            async with engine.connect() as connection:
                seq = (
                    await connection.execute(
                        text("SELECT seq FROM events WHERE tenant_id = :t"), {"t": orphaned.id}
                    )
                ).scalar()
            if seq is not None:
                break
            await asyncio.sleep(0.1)
        assert seq == 1
    finally:
        await relay.stop()
        await bus.disconnect()
