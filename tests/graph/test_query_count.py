"""N+1 safety: a page of leads with contacts and calls costs the same few statements for 5 or 50 rows."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import graphql
from tests.graph.factories import BASE_TIME

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


@pytest.fixture
def counter(engine: AsyncEngine) -> Iterator[StatementCounter]:
    counting = StatementCounter(engine, request_only=True)
    event.listen(Engine, "before_cursor_execute", counting)
    yield counting
    event.remove(Engine, "before_cursor_execute", counting)


async def _seed(engine: AsyncEngine, tenant_id: Any, leads: int, calls_per_lead: int = 2) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                """
                WITH c AS (
                    INSERT INTO contacts (tenant_id, phone, name)
                    SELECT :t, '+1555' || lpad(i::text, 7, '0'), 'Person ' || i FROM generate_series(1, :n) i
                    RETURNING id, phone
                ), l AS (
                    INSERT INTO leads (tenant_id, contact_id, created_at)
                    SELECT :t, c.id, CAST(:base AS timestamptz) + (substr(c.phone, 5)::int * interval '1 minute') FROM c
                    RETURNING id, contact_id, created_at
                )
                INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, started_at)
                SELECT :t, l.id::text || '-' || k, l.id, l.contact_id, 'outbound', 'completed', l.created_at + k * interval '1 second'
                FROM l, generate_series(1, :k) k
                """
            ),
            {"t": tenant_id, "n": leads, "k": calls_per_lead, "base": BASE_TIME},
        )


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
) -> None:
    tenant = await make_tenant()
    await _seed(engine, tenant.id, rows)
    admin = await make_user("admin")
    statements, body = await _count(client, counter, admin, PAGE)
    edges = body["data"]["leads"]["edges"]
    assert len(edges) == rows
    assert all(len(edge["node"]["calls"]) == 2 and edge["node"]["contact"]["name"] for edge in edges)
    # The caller's users row, the page, its contacts in one batch, its calls in one batch.
    assert statements <= 4, counter.statements
    assert statements == 4


async def test_an_agents_page_costs_the_same(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine, counter: StatementCounter
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    await _seed(engine, tenant.id, 30)
    agent = await make_user("agent", tenants=[tenant, other])
    statements, body = await _count(client, counter, agent, PAGE)
    assert len(body["data"]["leads"]["edges"]) == 30
    assert statements == 4, counter.statements


async def test_a_lead_with_its_timeline_costs_a_fixed_number_of_statements(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine, counter: StatementCounter
) -> None:
    tenant = await make_tenant()
    await _seed(engine, tenant.id, 3, calls_per_lead=6)
    async with engine.connect() as connection:
        lead_id = (await connection.execute(text("SELECT id FROM leads LIMIT 1"))).scalar_one()
    admin = await make_user("admin")
    statements, body = await _count(client, counter, admin, LEAD_WITH_TIMELINE, {"id": str(lead_id)})
    assert len(body["data"]["lead"]["timeline"]) == 7
    # users, lead, then tenant (stage), contact, calls, notes, status changes in one round.
    assert statements == 7, counter.statements
