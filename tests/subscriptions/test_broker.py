"""Redis restarts and outages: subscribers catch up by themselves, no server restart, nothing lost."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.conftest import AppFactory
from tests.subscriptions.support import LEAD_CHANGED, OwnRedis, graphql_socket, running, write_lead

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


async def test_redis_stopped_and_started_mid_stream_loses_nothing(
    make_app: AppFactory, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    own_redis.start()
    await own_redis.ready()
    tenant = await make_tenant()
    admin = await make_user("admin")
    async with (
        running(make_app(redis_url=own_redis.url)) as server,
        graphql_socket(server.url, admin.token) as socket,
    ):
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await socket.subscribe("all", LEAD_CHANGED)
        await server.live(2)
        for _ in range(3):
            await write_lead(server.deps, tenant.id)
        before = await socket.results("leads", "leadChanged", 3)

        own_redis.stop()
        # Written while Redis is down: committed and numbered, their publishes fail.
        for _ in range(4):
            await write_lead(server.deps, tenant.id)
        await asyncio.sleep(0.5)
        own_redis.start()
        await own_redis.ready()
        # Nothing new is published: only the reconnect (or the watchdog) can bring these.
        during = await socket.results("leads", "leadChanged", 4, within=20)
        for _ in range(2):
            await write_lead(server.deps, tenant.id)
        after = during + await socket.results("leads", "leadChanged", 2)
        everything = await socket.results("all", "leadChanged", 9, within=20)
        await socket.nothing_for(0.5)
    assert [c["cursor"] for c in before + after] == list(range(1, 10))
    assert [c["cursor"] for c in everything] == list(range(1, 10))


async def test_the_app_starts_while_redis_is_down_and_delivers_once_it_is_up(
    make_app: AppFactory, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    async with (
        running(make_app(redis_url=own_redis.url)) as server,
        graphql_socket(server.url, admin.token) as socket,
    ):
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await server.live(1)
        await write_lead(server.deps, tenant.id)
        own_redis.start()
        await own_redis.ready()
        await write_lead(server.deps, tenant.id)
        received = await socket.results("leads", "leadChanged", 2, within=20)
    assert [c["cursor"] for c in received] == [1, 2]
