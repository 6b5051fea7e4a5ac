"""A reconnect storm: sockets signing in and subscribing together share a few statements (principals,
where each tenant's history ends, replays), and still get exactly what each asked for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import AppFactory
from tests.subscriptions.support import LEAD_CHANGED, GraphQLSocket, graphql_socket, running
from tests.subscriptions.test_revocation import post_lead

SOCKETS = 40
USERS = 4
PRINCIPALS_SQL = "FROM users u LEFT JOIN agent_assignments a"
LATEST_SQL = "FROM event_sequences WHERE tenant_id = ANY"
REPLAY_SQL = "WITH ORDINALITY AS r(tenant_id, after, before, i)"


class Statements:
    """The statements the app's engines send (not the tests' own engine)."""

    def __init__(self, test_engine: AsyncEngine) -> None:
        self.test_engine = test_engine.sync_engine
        self.sent: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn.engine is not self.test_engine:
            self.sent.append(statement)

    def count(self, fragment: str) -> int:
        return sum(fragment in statement for statement in self.sent)


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    counting = Statements(engine)
    event.listen(Engine, "before_cursor_execute", counting)
    yield counting
    event.remove(Engine, "before_cursor_execute", counting)


async def _sockets(url: str, tokens: list[str], stack: contextlib.AsyncExitStack) -> list[GraphQLSocket]:
    """`SOCKETS` sockets signing in at the same time, round robin over `tokens`."""
    return list(
        await asyncio.gather(
            *(stack.enter_async_context(graphql_socket(url, tokens[n % len(tokens)])) for n in range(SOCKETS))
        )
    )


async def test_sockets_signing_in_and_subscribing_together_share_a_few_statements(
    make_app: AppFactory, make_tenant, make_user, statements: Statements
) -> None:
    tenant = await make_tenant()
    users = [await make_user("agent", tenants=[tenant]) for _ in range(USERS)]
    # The periodic re-read stays out of the count.
    async with (
        running(make_app(access_recheck_seconds=600)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        sockets = await _sockets(server.url, [user.token for user in users], stack)
        await asyncio.gather(
            *(s.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)}) for s in sockets)
        )
        await server.live(SOCKETS)
        # One statement per socket each, before: 40 sockets read the users table 80 times.
        assert 1 <= statements.count(PRINCIPALS_SQL) < SOCKETS // 4
        assert 1 <= statements.count(LATEST_SQL) < SOCKETS // 4
        await post_lead(http, tenant.lead_url, "+61430000051")
        for socket in sockets:
            assert (await socket.data("leads"))["leadChanged"]["cursor"] == 1

        # Signing in again (a second storm within the cache's life) reads no user at all.
        read = statements.count(PRINCIPALS_SQL)
        more = await _sockets(server.url, [user.token for user in users], stack)
        assert len(more) == SOCKETS
        assert statements.count(PRINCIPALS_SQL) == read


async def test_replays_asked_for_together_share_statements_and_each_gets_its_own_range(
    make_app: AppFactory, make_tenant, make_user, statements: Statements
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    async with (
        running(make_app(access_recheck_seconds=600)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
        contextlib.AsyncExitStack() as stack,
    ):
        for n in range(6):
            await post_lead(http, tenant.lead_url, f"+6143000006{n}")
        sockets = await _sockets(server.url, [admin.token], stack)
        # Dashboards that saw different amounts before the blip: each replays from its own cursor.
        await asyncio.gather(
            *(
                s.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id), "after": n % 4})
                for n, s in enumerate(sockets)
            )
        )
        for n, socket in enumerate(sockets):
            replayed = await socket.results("leads", "leadChanged", 6 - n % 4)
            assert [change["cursor"] for change in replayed] == list(range(n % 4 + 1, 7))
        assert 1 <= statements.count(REPLAY_SQL) < SOCKETS // 4
        await post_lead(http, tenant.lead_url, "+61430000070")
        for socket in sockets:
            assert (await socket.data("leads"))["leadChanged"]["cursor"] == 7
            await socket.nothing_for(0.05)
