"""Revocation across server processes: access taken away through one process ends the subscriptions
open on another within a second, and a lost announcement is caught up by the re-read."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncGenerator

import httpx
import pytest

from tests.conftest import AppFactory, UserFixture
from tests.subscriptions.support import (
    LEAD_CHANGED,
    Closed,
    OwnRedis,
    graphql_socket,
    running,
    server_process,
)
from tests.subscriptions.test_revocation import (
    UNASSIGN,
    UPSERT,
    WITHIN,
    ended_with,
    mutate,
    post_lead,
    unsubscribed,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


async def _other(
    database_url: str, redis_url: str, recheck_seconds: float
) -> tuple[AsyncGenerator[str, None], str]:
    process = server_process(database_url, redis_url, CALLTRAX_ACCESS_RECHECK_SECONDS=str(recheck_seconds))
    return process, await anext(process)


async def test_unassigning_through_one_process_ends_the_subscription_on_another_within_a_second(
    make_app: AppFactory, database_url: str, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    own_redis.start()
    await own_redis.ready()
    tenant = await make_tenant()
    admin: UserFixture = await make_user("admin")
    agent = await make_user("agent", tenants=[tenant])
    colleague = await make_user("agent", tenants=[tenant])
    # The other process re-reads access only every 10 minutes: only the announcement can end it in time.
    other, other_url = await _other(database_url, own_redis.url, 600)
    try:
        async with (
            running(make_app(redis_url=own_redis.url)) as this_process,
            httpx.AsyncClient(base_url=this_process.url) as http,
            graphql_socket(other_url, agent.token) as socket,
            graphql_socket(other_url, colleague.token) as watcher,
        ):
            await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
            await watcher.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
            await post_lead(http, tenant.lead_url, "+61430000041")
            assert (await socket.data("leads"))["leadChanged"]["cursor"] == 1
            assert (await watcher.data("leads"))["leadChanged"]["cursor"] == 1

            await mutate(http, admin, UNASSIGN, {"u": agent.user.id, "t": str(tenant.id)})
            answered = time.monotonic()
            assert await ended_with(socket, "leads", within=WITHIN) == ["FORBIDDEN"]
            assert time.monotonic() - answered < WITHIN

            await post_lead(http, tenant.lead_url, "+61430000042")
            assert (await watcher.data("leads"))["leadChanged"]["cursor"] == 2
            await socket.subscribe("replay", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
            assert await ended_with(socket, "replay", within=5) == ["FORBIDDEN"]
    finally:
        await other.aclose()


@pytest.mark.parametrize("path", ["periodic re-read", "broker reconnect"])
async def test_an_announcement_lost_while_redis_is_down_is_caught_up(
    make_app: AppFactory, database_url: str, make_tenant, make_user, own_redis: OwnRedis, path: str
) -> None:
    own_redis.start()
    await own_redis.ready()
    tenant = await make_tenant()
    admin: UserFixture = await make_user("admin")
    agent = await make_user("agent", tenants=[tenant])
    recheck = 1.0 if path == "periodic re-read" else 600.0
    other, other_url = await _other(database_url, own_redis.url, recheck)
    try:
        async with (
            running(make_app(redis_url=own_redis.url)) as this_process,
            httpx.AsyncClient(base_url=this_process.url) as http,
            graphql_socket(other_url, agent.token) as socket,
        ):
            await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
            await post_lead(http, tenant.lead_url, "+61430000051")
            assert (await socket.data("leads"))["leadChanged"]["cursor"] == 1
            own_redis.stop()
            # Committed and answered although nobody else can be told now.
            await mutate(http, admin, UNASSIGN, {"u": agent.user.id, "t": str(tenant.id)})
            answered = time.monotonic()
            if path == "periodic re-read":
                assert await ended_with(socket, "leads", within=recheck + WITHIN + 1) == ["FORBIDDEN"]
                assert time.monotonic() - answered < recheck + WITHIN
            else:
                await socket.nothing_for(1.0)
                own_redis.start()
                await own_redis.ready()
                # Reconnecting takes the listener's backoff (at most 2 s); the re-read follows at once.
                assert await ended_with(socket, "leads", within=8) == ["FORBIDDEN"]
    finally:
        await other.aclose()


async def test_a_user_deactivated_through_one_process_cannot_sign_in_on_another_at_once(
    make_app: AppFactory, database_url: str, make_tenant, make_user, own_redis: OwnRedis
) -> None:
    """The other process has the user in its principal cache (it signed in there a moment ago, and
    the cache keeps it 10 minutes here): the announcement drops it, so the next sign-in reads again."""
    own_redis.start()
    await own_redis.ready()
    admin: UserFixture = await make_user("admin")
    agent = await make_user("agent", tenants=[await make_tenant()])
    other, other_url = await _other(database_url, own_redis.url, 600)
    try:
        async with (
            running(make_app(redis_url=own_redis.url)) as this_process,
            httpx.AsyncClient(base_url=this_process.url) as http,
        ):
            async with graphql_socket(other_url, agent.token):
                pass
            await mutate(http, admin, UPSERT, {"i": {**unsubscribed(agent), "active": False}})
            answered = time.monotonic()
            refused = None
            while refused is None:
                async with graphql_socket(other_url, init=False) as socket:
                    try:
                        ack = await socket.init(agent.token)
                    except Closed as closed:
                        refused = closed
                    else:
                        # The announcement is still on its way (milliseconds): the next one is refused.
                        assert ack["type"] == "connection_ack"
                        assert time.monotonic() - answered < WITHIN
            assert refused.code == 4403
            assert time.monotonic() - answered < WITHIN
    finally:
        await other.aclose()
