"""One tenant's expensive reads cannot starve another (issue 19): query cost, per-user concurrency and
the statement timeout answer with their codes, and a flood leaves other tenants' webhooks and
GraphQL answering on time (a real server process, a real flood)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from graph.read_limits import known_refusal, query_cost
from graph.schema import schema
from tests.conftest import TEST_JWT_SECRET, AppFactory, channel_prefix, error_codes, free_port, graphql, serve
from tests.graph.factories import seed_leads
from tests.limits.read_flood import BASE_TIME, flood_query

DEFAULT_MAX_COST = 5000


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    from graphql import parse

    return query_cost(schema._schema, parse(document), None, variables)


def test_cost_multiplies_page_sizes_through_nested_lists() -> None:
    one_page = "{ leads(first: 100) { edges { node { id contact { name } timeline { at } } } } }"
    # 100 leads, their 100 contacts, and about 5 timeline entries each.
    assert cost(one_page) == 100 + 100 + 500
    # Aliases add up; depth and alias limits alone would pass all of these.
    assert cost(flood_query(30)) == 30 * cost(flood_query(1)) > DEFAULT_MAX_COST
    # `first` from a variable is priced with its value, an absent one as the default page (50).
    by_variable = "query($n: Int) { leads(first: $n) { edges { node { id } } } }"
    assert cost(by_variable, {"n": 3}) == 3
    assert cost(by_variable, {}) == 50
    # Fragments count as if written out; connection wrappers (edges, pageInfo) are not rows.
    fragment = (
        "query { leads(first: 10) { pageInfo { hasNextPage } ...rows } } "
        "fragment rows on LeadConnection { edges { node { id calls { id lead { id } } } } }"
    )
    assert cost(fragment) == 10 + 10 * 5 + 10 * 5


async def test_a_query_over_the_cost_limit_is_refused_before_it_runs(
    make_app: AppFactory, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    client_user = await make_user("client", tenant=tenant)
    async with serve(make_app(graphql_max_query_cost=1000)) as url, httpx.AsyncClient(base_url=url) as http:
        body = await graphql(http, flood_query(2), {"tenant": str(tenant.id)}, user=client_user)
        assert error_codes(body) == ["QUERY_TOO_COSTLY"], body
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 1400, "maxCost": 1000}
        assert "first" in body["errors"][0]["message"]
        # Refused once, the same query is known at the HTTP door: answered there (no Strawberry
        # pipeline), with the very same answer, to its caller and to any other.
        variables = {"tenant": str(tenant.id)}
        assert known_refusal(flood_query(2), None, variables, 1000) == body
        assert await graphql(http, flood_query(2), variables, user=client_user) == body
        other = await make_user("client", tenant=await make_tenant())
        assert await graphql(http, flood_query(2), variables, user=other) == body
        # A higher limit in another process would not refuse it from the memo.
        assert known_refusal(flood_query(2), None, variables, 5000) is None
        body = await graphql(http, flood_query(1), {"tenant": str(tenant.id)}, user=client_user)
        assert "errors" not in body, body


@contextlib.asynccontextmanager
async def leads_locked(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold an exclusive lock on `leads` so every read of it waits (a read that is slow for sure)."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("LOCK TABLE leads IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def _waiting_on_locks(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'calltrax' "
                        "AND wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
            ).scalar_one()
        )


async def test_a_read_past_the_statement_timeout_answers_query_timeout(
    make_app: AppFactory, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    client_user = await make_user("client", tenant=tenant)
    query = "query($t: ID!) { leads(tenantId: $t, first: 5) { edges { node { id } } } }"
    app = make_app(read_statement_timeout_seconds=0.3)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with leads_locked(engine):
            started = time.perf_counter()
            body = await graphql(http, query, {"t": str(tenant.id)}, user=client_user)
            waited = time.perf_counter() - started
        assert error_codes(body) == ["QUERY_TIMEOUT"], body
        assert 0.3 <= waited < 5
        # The connection went back to the pool in a usable state.
        assert "errors" not in await graphql(http, query, {"t": str(tenant.id)}, user=client_user)


async def test_a_user_past_its_concurrency_limit_waits_then_is_refused_and_others_are_not(
    make_app: AppFactory, make_tenant, make_user, engine: AsyncEngine
) -> None:
    """3 running, 12 waiting in line (at no cost), the 16th refused at once with 429; another user's
    requests are counted apart; the line is served once the running ones answer."""
    tenant = await make_tenant()
    other_tenant = await make_tenant()
    flooder = await make_user("client", tenant=tenant)
    other = await make_user("client", tenant=other_tenant)
    query = "query($t: ID!) { leads(tenantId: $t, first: 5) { edges { node { id } } } }"
    async with (
        serve(make_app(graphql_max_concurrent_per_user=3)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        async with leads_locked(engine):
            held = [
                asyncio.create_task(graphql(http, query, {"t": str(tenant.id)}, user=flooder))
                for _ in range(3 + 4 * 3)
            ]
            for _ in range(200):
                if await _waiting_on_locks(engine) >= 3:
                    break
                await asyncio.sleep(0.02)
            # Only 3 reached the database; the other 12 wait in the flooder's line.
            assert await _waiting_on_locks(engine) == 3
            refused = await http.post(
                "/graphql", json={"query": query, "variables": {"t": str(tenant.id)}}, headers=flooder.headers
            )
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert error_codes(refused.json()) == ["TOO_MANY_CONCURRENT_REQUESTS"], refused.text
            assert refused.json()["errors"][0]["extensions"]["maxConcurrent"] == 3
            # Another user is not counted against the flooder's limit (its read waits on the lock too).
            others = asyncio.create_task(graphql(http, query, {"t": str(other_tenant.id)}, user=other))
            me = await graphql(http, "{ me { id } }", user=other)
            assert "errors" not in me, me
            assert not any(task.done() for task in held)
        assert all("errors" not in body for body in await asyncio.gather(*held, others))
        # The counts went back down: the flooder is served again.
        assert "errors" not in await graphql(http, query, {"t": str(tenant.id)}, user=flooder)


async def served(database_url: str, redis_url: str | None) -> AsyncIterator[str]:
    """`calltrax serve` as operators run it, in its own process; yields its URL once ready."""
    port = free_port()
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("CALLTRAX_", "REDIS_"))},
        "DATABASE_URL": database_url,
        "CALLTRAX_JWT_SECRET": TEST_JWT_SECRET,
        "CALLTRAX_LOG_LEVEL": "WARNING",
        **({"REDIS_URL": redis_url} if redis_url else {}),
        "CALLTRAX_REDIS_CHANNEL_PREFIX": channel_prefix(database_url),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "calltrax", "serve", "--host", "127.0.0.1", "--port", str(port)),
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server never became ready")
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=20)


@pytest.mark.parametrize("flood", ["over-the-cost-limit", "just-under-the-cost-limit"])
async def test_a_read_flood_leaves_other_tenants_webhooks_and_graphql_on_time(
    database_url: str, redis_url: str | None, make_tenant, make_user, engine: AsyncEngine, flood: str
) -> None:
    """A client user sends 8 concurrent heavy queries, again and again; meanwhile another tenant's
    lead webhook keeps p99 under 100 ms and its client user's GraphQL answers with data."""
    flooded = await make_tenant()
    await seed_leads(engine, flooded.id, 3000, base=BASE_TIME)
    flooder = await make_user("client", tenant=flooded)
    other = await make_tenant()
    other_user = await make_user("client", tenant=other)
    if flood == "over-the-cost-limit":
        aliases = 30
    else:
        aliases = max(n for n in range(1, 31) if cost(flood_query(n)) <= DEFAULT_MAX_COST)
        assert aliases >= 7
    document = flood_query(aliases)
    assert (cost(document) > DEFAULT_MAX_COST) == (flood == "over-the-cost-limit")
    latencies: list[float] = []
    other_reads: list[dict[str, Any]] = []
    server = served(database_url, redis_url)
    url = await anext(server)
    # The same webhook without the flood first, for the failure message (the machine's own figure).
    quiet: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for number in range(100):
            body = {"contact": {"name": f"Quiet {number}", "phone": f"+1556{number:07d}"}}
            started = time.perf_counter()
            assert (await http.post(other.lead_url, json=body)).status_code == 201
            quiet.append(time.perf_counter() - started)
    quiet.sort()
    # The flood runs in a process of its own, as a real client would: this process only measures.
    flooding = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.limits.read_flood", url, flooder.token, str(flooded.id), str(aliases), "8"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert flooding.stdin is not None
    assert flooding.stdout is not None
    try:
        assert await asyncio.wait_for(flooding.stdout.readline(), 60) == b"started\n"
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for number in range(200):
                body = {"contact": {"name": f"Other {number}", "phone": f"+1555{number:07d}"}}
                started = time.perf_counter()
                answer = await http.post(other.lead_url, json=body)
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 201, answer.text
                if number % 20 == 0:
                    other_reads.append(
                        await graphql(
                            http,
                            "query($t: ID!) { leads(tenantId: $t, first: 10) { edges { node { id } } } }",
                            {"t": str(other.id)},
                            user=other_user,
                        )
                    )
        flooding.stdin.write(b"stop\n")
        await flooding.stdin.drain()
        seen = json.loads(await asyncio.wait_for(flooding.stdout.readline(), 60))
        assert await flooding.wait() == 0
    finally:
        if flooding.returncode is None:
            flooding.kill()
            await flooding.wait()
        with contextlib.suppress(StopAsyncIteration):
            await anext(server)
    latencies.sort()
    p99 = latencies[int(0.99 * len(latencies)) - 1]
    summary = (
        f"{flood}, {aliases} aliases: flood answers {seen}; other tenant's webhook "
        f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(without the flood, same server: p50 {quiet[50] * 1000:.1f} ms, p99 {quiet[98] * 1000:.1f} ms)"
    )
    assert all("errors" not in read and read["data"]["leads"]["edges"] for read in other_reads), other_reads
    if flood == "over-the-cost-limit":
        assert set(seen) == {"QUERY_TOO_COSTLY"}, summary
    else:
        # The flooder gets answers (up to its limit) and refusals past it, never an outage.
        assert set(seen) <= {"data", "TOO_MANY_CONCURRENT_REQUESTS"}, summary
        assert seen.get("data", 0) >= 1, summary
    assert p99 < 0.100, summary
    async with engine.connect() as connection:
        stored = (
            await connection.execute(text("SELECT count(*) FROM leads WHERE tenant_id = :t"), {"t": other.id})
        ).scalar_one()
    assert stored == 200 + 100
