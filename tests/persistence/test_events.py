"""Event rows: concurrent writers get a dense, gap-free seq per tenant once the relay numbers them."""

from __future__ import annotations

import asyncio
from typing import Any

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
