"""publicDashboardChanged over a real websocket: first figures, fresh ones after a webhook lead,
bursts coalesced, and a revoke that ends it at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import graphql
from tests.public_dashboard.support import REVOKE, create_link
from tests.subscriptions.support import (
    LEAD_CHANGED,
    Closed,
    OperationError,
    Server,
    graphql_socket,
    running,
    write_lead,
)

CHANGED = """
subscription ($token: String!) {
  publicDashboardChanged(token: $token) { title metrics { leads } pipeline { stage count } }
}
"""


@pytest.fixture
async def server(make_app) -> AsyncIterator[Server]:
    async with running(make_app()) as live:
        yield live


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


def leads_of(data: dict[str, Any]) -> int:
    count: int = data["publicDashboardChanged"]["metrics"]["leads"]
    return count


async def test_figures_arrive_then_change_when_a_lead_comes_through_the_webhook(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant(name="Sunny Solar")
    link = await create_link(http, await make_user("admin"), tenant.id)
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": link["token"]}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.subscribe("d", CHANGED, {"token": link["token"]})
        first = await socket.data("d")
        assert first["publicDashboardChanged"]["title"] == "Sunny Solar"
        assert leads_of(first) == 0
        await server.live(1)
        posted = await http.post(tenant.lead_url, json={"name": "Ana Lima", "phone": "+61412345678"})
        assert posted.status_code == 201, posted.text
        fresh = await socket.data("d")
        assert leads_of(fresh) == 1
        columns = {column["stage"]: column["count"] for column in fresh["publicDashboardChanged"]["pipeline"]}
        assert columns["FOLLOW_UP_1"] == 1
        # Events that change no figure push nothing.
        await socket.nothing_for(0.6)


async def test_a_burst_of_leads_is_coalesced_into_a_few_pushes(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    link = await create_link(http, await make_user("admin"), tenant.id)
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": link["token"]}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.subscribe("d", CHANGED, {"token": link["token"]})
        assert leads_of(await socket.data("d")) == 0
        await server.live(1)
        started = time.monotonic()
        for _ in range(30):
            await write_lead(server.deps, tenant.id)
            await asyncio.sleep(0.02)
        pushes: list[dict[str, Any]] = []
        while not pushes or leads_of(pushes[-1]) < 30:
            pushes.append(await socket.data("d"))
        elapsed = time.monotonic() - started
    counts = [leads_of(push) for push in pushes]
    assert counts == sorted(counts)
    # At most one push per 0.25 s (plus the one a first event triggers at once).
    assert len(pushes) <= elapsed / 0.25 + 1, (len(pushes), elapsed)
    assert len(pushes) < 30


async def test_revoking_ends_open_subscriptions_at_once_and_refuses_new_sockets(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    link = await create_link(http, admin, tenant.id)
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": link["token"]}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.subscribe("d", CHANGED, {"token": link["token"]})
        await socket.data("d")
        await server.live(1)
        started = time.monotonic()
        body = await graphql(http, REVOKE, {"id": link["id"]}, user=admin)
        assert "errors" not in body, body
        with pytest.raises(OperationError) as ended:
            await socket.data("d", within=5)
        assert ended.value.codes == ["NOT_FOUND"]
        assert time.monotonic() - started < 1.5
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": link["token"]}})
        with pytest.raises(Closed) as closed:
            await socket.receive()
        assert closed.value.code == 4403
    # The query over HTTP stops too.
    assert "errors" in await graphql(
        http, "query ($t: String!) { publicDashboard(token: $t) { title } }", {"t": link["token"]}
    )


async def test_a_public_token_opens_no_other_subscription(
    server: Server, http: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    link = await create_link(http, await make_user("admin"), tenant.id)
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": link["token"]}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        with pytest.raises(OperationError) as refused:
            await socket.data("leads")
        assert refused.value.codes == ["UNAUTHENTICATED"]
        await socket.subscribe("d", CHANGED, {"token": "not-a-token"})
        with pytest.raises(OperationError) as unknown:
            await socket.data("d")
        assert unknown.value.codes == ["NOT_FOUND"]
    async with graphql_socket(server.url, init=False) as socket:
        await socket.send({"type": "connection_init", "payload": {"publicToken": "not-a-token"}})
        with pytest.raises(Closed) as closed:
            await socket.receive()
        assert closed.value.code == 4403
