"""An outside reviewer's probes of the GraphQL door (issues 17 and 18), each over real HTTP against a
running server: what a third party can send must get the same answer on the compiled and resolver
paths, and a clear 4xx or coded GraphQL error, never an internal one."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import serve
from tests.graph.factories import BASE_TIME, insert_call, insert_lead


@pytest.fixture
async def both(make_app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two real servers on the one database: compiled reads on, and off (resolvers only)."""
    async with (
        serve(make_app()) as compiled_url,
        serve(make_app(graphql_compiled_reads=False)) as resolver_url,
        httpx.AsyncClient(base_url=compiled_url, timeout=30) as compiled,
        httpx.AsyncClient(base_url=resolver_url, timeout=30) as resolver,
    ):
        yield compiled, resolver


def _spelled(text: str) -> str:
    """The answer with each number as written (`0` and `0.0` differ: a typed client reads an Int or a
    Float), keys in order; only the whitespace between tokens is ignored."""
    return json.dumps(json.loads(text, parse_float=lambda s: f"float {s}", parse_int=lambda s: f"int {s}"))


async def test_integer_valued_floats_are_spelled_as_the_resolvers_spell_them(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], make_tenant: Any, make_user: Any, engine: Any
) -> None:
    """A Float field whose value is whole (a 0 s or 12 s call, a lead attempted 60 s after creation)
    is `0.0`, `12.0`, `60.0` on the resolver path; the compiled statement wrote `0`, `12`, `60`
    (PostgreSQL's float8 text), which parsed-JSON comparisons (0 == 0.0) did not notice."""
    tenant = await make_tenant()
    admin = await make_user("admin")
    lead = await insert_lead(
        engine, tenant.id, created_at=BASE_TIME, first_attempt_at=BASE_TIME + timedelta(seconds=60)
    )
    for seconds in (0, 12, 60.5, 3599.999, 1e-05):
        await insert_call(
            engine,
            tenant.id,
            lead_id=lead,
            started_at=BASE_TIME + timedelta(seconds=60),
            duration_seconds=seconds,
        )
    compiled, resolver = both
    documents = [
        ("{ leads(first: 5) { edges { node { speedToLeadSeconds calls { durationSeconds } } } } }", {}),
        (
            "query($id: ID!) { lead(id: $id) { speedToLeadSeconds calls { durationSeconds } } }",
            {"id": str(lead)},
        ),
        ("{ calls(first: 10) { edges { node { durationSeconds lead { speedToLeadSeconds } } } } }", {}),
    ]
    for document, variables in documents:
        # Twice on the compiled server: the second answer comes from its statement cache.
        answers = [
            await http.post(
                "/graphql", json={"query": document, "variables": variables}, headers=admin.headers
            )
            for http in (resolver, compiled, compiled)
        ]
        expected = _spelled(answers[0].text)
        assert "float 0.0" in expected or "speedToLeadSeconds" in document
        for answer in answers[1:]:
            assert answer.status_code == 200
            assert _spelled(answer.text) == expected, (document, answers[0].text, answer.text)


async def test_a_subscription_posted_over_http_is_a_bad_request_not_an_internal_error(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
    make_tenant: Any,
    make_user: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Strawberry ran a subscription sent by POST as a query: its resolver returns a stream, graphql-core
    refused it, and the caller got INTERNAL_SERVER_ERROR with an error and its stack in the log."""
    await make_tenant()
    admin = await make_user("admin")
    caplog.set_level(logging.ERROR)
    for http in both:
        for document in (
            "subscription { leadChanged { lead { id } } }",
            'subscription { publicDashboardChanged(token: "x") { title } }',
        ):
            anonymous: dict[str, str] = {}
            for headers in (admin.headers, anonymous):
                response = await http.post("/graphql", json={"query": document}, headers=headers)
                assert response.status_code == 400, response.text
                body = response.json()
                assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST", body
                assert body["errors"][0]["message"] == "subscriptions are not allowed when using POST", body
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_syntax_error_carries_a_code(both: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    """Parsing runs in Strawberry's ParserCache extension, outside the step that gives GraphQL's own
    errors their code: a syntax error, and a document over the 2,000-token limit (docs/security.md:
    GRAPHQL_VALIDATION_FAILED), came back with no `extensions.code` at all."""
    for http in both:
        too_long = "{ " + " ".join(["__typename"] * 2001) + " }"
        for document in ("{ leads(first: 1) { ", "query { me { id } } }", "{ leads(first: $) }", too_long):
            response = await http.post("/graphql", json={"query": document})
            assert response.status_code == 200, response.text
            errors = response.json()["errors"]
            assert errors[0]["message"].startswith("Syntax Error"), errors
            assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", errors


async def test_a_malformed_extensions_member_is_refused_on_both_paths(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], make_tenant: Any, make_user: Any
) -> None:
    """The compiled-answer shortcut read `query`, `variables` and `operationName` but not `extensions`:
    a document it had compiled before was answered 200 with data where Strawberry (and the server with
    compiled reads off) answers 400."""
    await make_tenant()
    admin = await make_user("admin")
    headers = {**admin.headers, "content-type": "application/json"}
    good = {"query": "{ leads(first: 1) { totalCount } }"}
    answers = []
    for http in both:
        assert (await http.post("/graphql", json=good, headers=admin.headers)).status_code == 200
        response = await http.post(
            "/graphql", content=json.dumps({**good, "extensions": "x"}), headers=headers
        )
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400
