"""N+1 safety: a page of leads with contacts and calls costs the same few statements for 5 or 50 rows.

Each test runs on both read paths: compiled reads (docs/reads.md: the caller's users row, then one
statement for the whole page) and the resolvers alone (the users row, the page, and one batch per
kind of related row)."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from tests.conftest import graphql
from tests.graph.factories import seed_leads

PAGE = "{ leads(first: 50) { edges { node { contact { name } calls { status } } } } }"
LEAD_WITH_TIMELINE = """
query($id: ID!) { lead(id: $id) { id stage contact { name } timeline { kind at call { status agent { name } } note { body } statusChange { toStatus } } } }
"""


# Set while the test's request runs: tasks the request starts (DataLoader batches) inherit it, the
# app's background loops (notifications, access re-checks, the relay), started before, do not.
_IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


class StatementCounter:
    """Counts the statements the app's engines send (every engine but the tests' own fixture engine);
    with `request_only`, only those of requests made in `_IN_REQUEST` (none of the background work)."""

    def __init__(self, test_engine: AsyncEngine, *, request_only: bool = False) -> None:
        self.test_engine = test_engine.sync_engine
        self.request_only = request_only
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn.engine is not self.test_engine and (_IN_REQUEST.get() or not self.request_only):
            self.statements.append(statement)


@pytest.fixture(params=["compiled", "resolvers"])
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def app(make_app, path: str) -> AsyncIterator[Starlette]:
    """The app on the read path under test (CALLTRAX_GRAPHQL_COMPILED_READS)."""
    application = make_app(graphql_compiled_reads=path == "compiled")
    async with LifespanManager(application, shutdown_timeout=20) as manager:
        application.state.lifespan_app = manager.app
        yield application


@pytest.fixture
def counter(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[StatementCounter]:
    counting = StatementCounter(engine, request_only=True)
    event.listen(Engine, "before_cursor_execute", counting)
    # The compiled statement runs on the pooled connection's driver itself, past SQLAlchemy's events
    # (persistence/graph_reads.py read_json): asyncpg's own query path is counted too. SQLAlchemy's
    # statements take asyncpg's prepared-statement path instead, so none is counted twice.
    run = asyncpg.connection.Connection._execute

    async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if _IN_REQUEST.get():
            counting.statements.append(query)
        return await run(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counted)
    yield counting
    event.remove(Engine, "before_cursor_execute", counting)


async def _count(
    client: httpx.AsyncClient, counter: StatementCounter, user: Any, document: str, variables: Any = None
) -> tuple[int, dict[str, Any]]:
    counter.statements.clear()
    counting = _IN_REQUEST.set(True)
    try:
        body = await graphql(client, document, variables, user=user)
    finally:
        _IN_REQUEST.reset(counting)
    assert "errors" not in body, body
    return len(counter.statements), body


@pytest.mark.parametrize("rows", [5, 50])
async def test_a_leads_page_with_contacts_and_calls_runs_at_most_4_statements(
    client: httpx.AsyncClient,
    make_tenant,
    make_user,
    engine: AsyncEngine,
    counter: StatementCounter,
    rows: int,
    path: str,
) -> None:
    tenant = await make_tenant()
    await seed_leads(engine, tenant.id, rows)
    admin = await make_user("admin")
    statements, body = await _count(client, counter, admin, PAGE)
    edges = body["data"]["leads"]["edges"]
    assert len(edges) == rows
    assert all(len(edge["node"]["calls"]) == 2 and edge["node"]["contact"]["name"] for edge in edges)
    if path == "compiled":
        # The caller's users row, then the whole page in one statement.
        assert statements == 2, counter.statements
    else:
        # The caller's users row, the page, its contacts in one batch, its calls in one batch.
        assert statements == 4, counter.statements


async def test_an_agents_page_costs_the_same(
    client: httpx.AsyncClient,
    make_tenant,
    make_user,
    engine: AsyncEngine,
    counter: StatementCounter,
    path: str,
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    await seed_leads(engine, tenant.id, 30)
    agent = await make_user("agent", tenants=[tenant, other])
    statements, body = await _count(client, counter, agent, PAGE)
    assert len(body["data"]["leads"]["edges"]) == 30
    assert statements == (2 if path == "compiled" else 4), counter.statements


async def test_a_lead_with_its_timeline_costs_a_fixed_number_of_statements(
    client: httpx.AsyncClient,
    make_tenant,
    make_user,
    engine: AsyncEngine,
    counter: StatementCounter,
    path: str,
) -> None:
    tenant = await make_tenant()
    await seed_leads(engine, tenant.id, 3, calls_per_lead=6)
    async with engine.connect() as connection:
        lead_id = (await connection.execute(text("SELECT id FROM leads LIMIT 1"))).scalar_one()
    admin = await make_user("admin")
    statements, body = await _count(client, counter, admin, LEAD_WITH_TIMELINE, {"id": str(lead_id)})
    assert len(body["data"]["lead"]["timeline"]) == 7
    # Compiled: the caller's users row, then the lead with everything under it (`stage` included) in
    # one statement. Resolvers: users, lead, then tenant (stage), contact, the timeline's entries in
    # order, calls, notes, status changes in one round.
    assert statements == (2 if path == "compiled" else 8), counter.statements
    without_stage = LEAD_WITH_TIMELINE.replace(" stage ", " ")
    statements, body = await _count(client, counter, admin, without_stage, {"id": str(lead_id)})
    assert len(body["data"]["lead"]["timeline"]) == 7
    # The caller signed in a moment ago: its users row comes from the process's principal cache
    # (docs/security.md). Compiled: the lead with everything under it in one statement.
    # Resolvers: the lead, then contact, timeline entries, calls, notes, status changes in one round.
    assert statements == (1 if path == "compiled" else 6), counter.statements
