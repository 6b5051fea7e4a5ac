"""Revoked access reaches open websockets at once: unassigned agents, deactivated or deleted users and
moved clients stop receiving, cannot replay, and everyone else keeps receiving."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import AppFactory, UserFixture
from tests.subscriptions.support import (
    LEAD_CHANGED,
    LEGACY_WS,
    TRANSPORT_WS,
    Closed,
    GraphQLSocket,
    OperationError,
    Server,
    graphql_socket,
    running,
)

UNASSIGN = "mutation ($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { id } }"
UPSERT = "mutation ($i: UpsertUserInput!) { upsertUser(input: $i) { id role } }"
# From the mutation's answer to the subscription's end (measured in milliseconds on an idle machine).
WITHIN = 1.0


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def mutate(http: httpx.AsyncClient, admin: UserFixture, query: str, variables: dict[str, Any]) -> None:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()


async def post_lead(http: httpx.AsyncClient, lead_url: str, phone: str) -> None:
    response = await http.post(lead_url, json={"contact": {"name": "Jane Citizen", "phone": phone}})
    assert response.status_code in {200, 201, 202}, response.text


async def ended_with(socket: GraphQLSocket, op_id: str, within: float) -> list[str | None]:
    """The error codes that ended `op_id` (fails when a result arrives instead, or nothing in time)."""
    with pytest.raises(OperationError) as ended:
        await socket.data(op_id, within=within)
    return ended.value.codes


def unsubscribed(user: UserFixture) -> dict[str, Any]:
    return {"id": user.user.id, "email": user.user.email, "role": user.user.role.value.upper()}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_an_unassigned_agent_stops_at_once_cannot_replay_and_keeps_its_other_tenants(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user, protocol: str
) -> None:
    taken, kept = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    agent = await make_user("agent", tenants=[taken, kept])
    colleague = await make_user("agent", tenants=[taken])
    async with (
        graphql_socket(server.url, agent.token, protocol=protocol) as socket,
        graphql_socket(server.url, colleague.token, protocol=protocol) as other,
    ):
        await socket.subscribe("taken", LEAD_CHANGED, {"tenantId": str(taken.id)})
        await socket.subscribe("kept", LEAD_CHANGED, {"tenantId": str(kept.id)})
        await other.subscribe("taken", LEAD_CHANGED, {"tenantId": str(taken.id)})
        await server.live(3)
        await post_lead(http, taken.lead_url, "+61430000001")
        assert (await socket.data("taken"))["leadChanged"]["cursor"] == 1
        assert (await other.data("taken"))["leadChanged"]["cursor"] == 1

        await mutate(http, admin, UNASSIGN, {"u": agent.user.id, "t": str(taken.id)})
        answered = time.monotonic()
        # No event needed: the revocation itself ends the subscription.
        assert await ended_with(socket, "taken", within=WITHIN) == ["FORBIDDEN"]
        assert time.monotonic() - answered < WITHIN

        await post_lead(http, taken.lead_url, "+61430000002")
        assert (await other.data("taken"))["leadChanged"]["cursor"] == 2
        # Replaying the tenant's history on the same socket is refused too.
        await socket.subscribe("replay", LEAD_CHANGED, {"tenantId": str(taken.id), "after": 0})
        assert await ended_with(socket, "replay", within=5) == ["FORBIDDEN"]
        # The tenant it still has goes on, on the same socket.
        await post_lead(http, kept.lead_url, "+61430000003")
        change = (await socket.data("kept"))["leadChanged"]
        assert change["tenantId"] == str(kept.id)
        # Nothing of the taken tenant arrived on the agent's socket after the revocation.
        leftovers = [m for m in socket.pending if m.get("id") in {"taken", "replay"}]
        assert all(m["type"] in {"complete"} for m in leftovers), leftovers


async def test_an_agents_all_tenant_stream_ends_when_a_tenant_is_taken_away(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    taken, kept = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    agent = await make_user("agent", tenants=[taken, kept])
    async with graphql_socket(server.url, agent.token) as socket:
        await socket.subscribe("all", LEAD_CHANGED)
        await server.live(1)
        await mutate(http, admin, UNASSIGN, {"u": agent.user.id, "t": str(taken.id)})
        assert await ended_with(socket, "all", within=WITHIN) == ["FORBIDDEN"]
        # Subscribing again follows what it may see now: the kept tenant, not the taken one.
        await socket.subscribe("again", LEAD_CHANGED)
        await server.live(1)
        await post_lead(http, taken.lead_url, "+61430000011")
        await post_lead(http, kept.lead_url, "+61430000012")
        assert (await socket.data("again"))["leadChanged"]["tenantId"] == str(kept.id)
        await socket.nothing_for(0.5)


async def test_a_deactivated_users_socket_closes_with_4403_and_others_keep_receiving(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    agent = await make_user("agent", tenants=[tenant])
    colleague = await make_user("agent", tenants=[tenant])
    async with (
        graphql_socket(server.url, agent.token) as socket,
        graphql_socket(server.url, colleague.token) as other,
    ):
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await other.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await server.live(2)
        await mutate(http, admin, UPSERT, {"i": {**unsubscribed(agent), "active": False}})
        answered = time.monotonic()
        with pytest.raises(Closed) as closed:
            await socket.data("leads", within=WITHIN)
        assert closed.value.code == 4403
        assert closed.value.reason == "access revoked"
        assert time.monotonic() - answered < WITHIN
        await post_lead(http, tenant.lead_url, "+61430000021")
        assert (await other.data("leads"))["leadChanged"]["cursor"] == 1
    # And the token no longer opens a socket.
    async with graphql_socket(server.url, init=False) as socket:
        with pytest.raises(Closed) as refused:
            await socket.init(agent.token)
        assert refused.value.code == 4403


async def test_a_client_moved_to_another_tenant_stops_following_the_old_one(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    old, new = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    client = await make_user("client", tenant=old)
    async with graphql_socket(server.url, client.token) as socket:
        await socket.subscribe("old", LEAD_CHANGED, {"tenantId": str(old.id)})
        await server.live(1)
        await mutate(http, admin, UPSERT, {"i": {**unsubscribed(client), "tenantId": str(new.id)}})
        assert await ended_with(socket, "old", within=WITHIN) == ["FORBIDDEN"]
        await socket.subscribe("replay", LEAD_CHANGED, {"tenantId": str(old.id), "after": 0})
        assert await ended_with(socket, "replay", within=5) == ["FORBIDDEN"]
        await socket.subscribe("new", LEAD_CHANGED, {"tenantId": str(new.id)})
        await server.live(1)
        await post_lead(http, old.lead_url, "+61430000031")
        await post_lead(http, new.lead_url, "+61430000032")
        assert (await socket.data("new"))["leadChanged"]["tenantId"] == str(new.id)
        await socket.nothing_for(0.5)


async def test_a_demoted_admin_loses_its_all_tenant_stream(
    make_app: AppFactory, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    demoted = await make_user("admin")
    # An in-process broker: an admin's all-tenant stream on a shared Redis hears other test runs.
    async with (
        running(make_app(redis_url=None)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
        graphql_socket(server.url, demoted.token) as socket,
    ):
        await socket.subscribe("all", LEAD_CHANGED)
        await server.live(1)
        await mutate(http, admin, UPSERT, {"i": {**unsubscribed(demoted), "role": "AGENT"}})
        assert await ended_with(socket, "all", within=WITHIN) == ["FORBIDDEN"]
        await socket.subscribe("tenant", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": 0})
        assert await ended_with(socket, "tenant", within=5) == ["FORBIDDEN"]


async def test_a_user_deleted_in_the_database_is_cut_off_by_the_periodic_recheck(
    make_app: AppFactory, engine: AsyncEngine, make_tenant, make_user
) -> None:
    """No use case announced it: the periodic re-read (here every 0.5 s) is what closes the socket."""
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    async with (
        running(make_app(access_recheck_seconds=0.5)) as server,
        graphql_socket(server.url, agent.token) as socket,
    ):
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await server.live(1)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": agent.user.id})
        deleted = time.monotonic()
        with pytest.raises(Closed) as closed:
            await socket.data("leads", within=3)
        assert closed.value.code == 4403
        assert time.monotonic() - deleted < 0.5 + WITHIN
