"""Two server processes sharing PostgreSQL and Redis: an event written through one reaches the other's subscribers."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from tests.conftest import AppFactory
from tests.subscriptions.support import (
    LEAD_CHANGED,
    OwnRedis,
    graphql_socket,
    running,
    server_process,
    write_lead,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


async def test_an_event_written_through_one_process_reaches_a_subscriber_of_the_other(
    make_app: AppFactory, database_url: str, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    own_redis.start()
    await own_redis.ready()
    tenant = await make_tenant()
    admin = await make_user("admin")
    other_process = server_process(database_url, own_redis.url)
    other_url = await anext(other_process)
    try:
        async with (
            running(make_app(redis_url=own_redis.url)) as this_process,
            graphql_socket(other_url, admin.token) as socket,
        ):
            # after: 0 replays whatever lands before the other process's subscription is live.
            await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
            await socket.subscribe("all", LEAD_CHANGED)
            # An all-tenant stream cannot replay: give it time to go live in the other process.
            await asyncio.sleep(1.0)
            leads = [await write_lead(this_process.deps, tenant.id) for _ in range(3)]
            received = await socket.results("leads", "leadChanged", 3)
            everything = await socket.results("all", "leadChanged", 3)
    finally:
        await other_process.aclose()
    assert [c["cursor"] for c in received] == [1, 2, 3]
    assert [c["lead"]["id"] for c in received] == [str(lead) for lead in leads]
    assert [c["cursor"] for c in everything] == [1, 2, 3]
