"""Resuming with `after`: the missed events from the table, then live, with no gap and no duplicate."""

from __future__ import annotations

import asyncio

from tests.subscriptions.support import LEAD_CHANGED, LEGACY_WS, Server, graphql_socket, write_lead


async def test_after_replays_the_missed_events_then_continues_live(
    server: Server, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    leads = [await write_lead(server.deps, tenant.id) for _ in range(5)]
    await server.state["relay"].flush()
    async with graphql_socket(server.url, admin.token, protocol=LEGACY_WS) as socket:
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 2})
        replayed = await socket.results("leads", "leadChanged", 3)
        live_lead = await write_lead(server.deps, tenant.id)
        live = await socket.results("leads", "leadChanged", 1)
        await socket.nothing_for(0.3)
    assert [c["cursor"] for c in replayed + live] == [3, 4, 5, 6]
    assert [c["lead"]["id"] for c in replayed + live] == [str(lead) for lead in [*leads[2:], live_lead]]


async def test_no_gap_and_no_duplicate_when_events_are_written_during_the_switch_over(
    server: Server, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    total = 120
    for _ in range(40):
        await write_lead(server.deps, tenant.id)

    async def keep_writing() -> None:
        for _ in range(total - 40):
            await write_lead(server.deps, tenant.id)
            await asyncio.sleep(0.002)

    async with graphql_socket(server.url, admin.token) as socket:
        writer = asyncio.create_task(keep_writing())
        # Subscribing while the writer runs: some events land in the replay, some arrive live.
        await asyncio.sleep(0.02)
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
        received = await socket.results("leads", "leadChanged", total, within=20)
        await writer
        await socket.nothing_for(0.5)
    assert [c["cursor"] for c in received] == list(range(1, total + 1))
