"""Authentication on /graphql: bearer tokens, the users table as the source of roles."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET, graphql

ME = "{ me { id email role tenantIds } }"


async def test_me_returns_the_user_row_behind_the_token(
    client: httpx.AsyncClient, make_user, make_tenant
) -> None:
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    body = await graphql(client, ME, user=agent)
    assert body == {
        "data": {
            "me": {
                "id": agent.user.id,
                "email": agent.user.email,
                "role": "AGENT",
                "tenantIds": [str(tenant.id)],
            }
        }
    }


async def test_the_role_comes_from_the_users_table_not_the_token(
    client: httpx.AsyncClient, make_user
) -> None:
    agent = await make_user("agent")
    forged = jwt.encode(
        {"sub": agent.user.id, "role": "admin", "exp": int(time.time()) + 60},
        TEST_JWT_SECRET,
        algorithm="HS256",
    )
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.json()["data"]["me"]["role"] == "AGENT"


async def _me_error(client: httpx.AsyncClient, authorization: str | None) -> dict[str, object]:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    error: dict[str, object] = body["errors"][0]
    return error


async def test_missing_bad_expired_and_unknown_tokens_are_unauthenticated(
    client: httpx.AsyncClient, make_user
) -> None:
    user = await make_user("admin")
    now = int(time.time())
    cases = {
        "missing": None,
        "not a bearer": f"Token {user.token}",
        "garbage": "Bearer not.a.jwt",
        "wrong key": "Bearer "
        + jwt.encode({"sub": user.user.id, "exp": now + 60}, "another-secret-" * 4, algorithm="HS256"),
        "expired": "Bearer "
        + jwt.encode({"sub": user.user.id, "exp": now - 120}, TEST_JWT_SECRET, algorithm="HS256"),
        "no exp": "Bearer " + jwt.encode({"sub": user.user.id}, TEST_JWT_SECRET, algorithm="HS256"),
        "unknown user": "Bearer "
        + jwt.encode({"sub": "nobody", "exp": now + 60}, TEST_JWT_SECRET, algorithm="HS256"),
        "alg none": "Bearer " + jwt.encode({"sub": user.user.id, "exp": now + 60}, "", algorithm="none"),
    }
    for label, header in cases.items():
        error = await _me_error(client, header)
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}, label
    assert "expired" in str((await _me_error(client, cases["expired"]))["message"])


async def test_tokens_within_the_30_second_leeway_still_work(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user("admin")
    token = jwt.encode(
        {"sub": user.user.id, "exp": int(time.time()) - 10}, TEST_JWT_SECRET, algorithm="HS256"
    )
    response = await client.post("/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"})
    assert response.json()["data"]["me"]["id"] == user.user.id


async def test_a_token_that_was_accepted_is_refused_once_it_expires(
    client: httpx.AsyncClient, make_user
) -> None:
    # Verified tokens are kept for reuse (calltrax/tokens.py): the expiry must still be checked on
    # every request. This one is 29 s past its exp, inside the 30 s leeway, so it runs out in ~1 s.
    user = await make_user("admin")
    token = jwt.encode(
        {"sub": user.user.id, "exp": int(time.time()) - 29}, TEST_JWT_SECRET, algorithm="HS256"
    )
    headers = {"Authorization": f"Bearer {token}"}
    first = await client.post("/graphql", json={"query": ME}, headers=headers)
    assert first.json()["data"]["me"]["id"] == user.user.id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = (await client.post("/graphql", json={"query": ME}, headers=headers)).json()
        if body.get("errors"):
            assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
            assert "expired" in body["errors"][0]["message"]
            return
        await asyncio.sleep(0.2)
    raise AssertionError("a kept token was still accepted 10 s after it expired")


async def test_access_changes_reach_the_next_http_request_although_sign_ins_are_cached(
    client: httpx.AsyncClient, make_user, make_tenant
) -> None:
    # HTTP requests sign in from the process's principal cache (docs/security.md): an unassignment
    # or a deactivation through the API must still reach the very next request.
    admin = await make_user("admin")
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    assert (await graphql(client, ME, user=agent))["data"]["me"]["tenantIds"] == [str(tenant.id)]
    unassign = "mutation($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { id } }"
    body = await graphql(client, unassign, {"u": agent.user.id, "t": str(tenant.id)}, user=admin)
    assert "errors" not in body, body
    assert (await graphql(client, ME, user=agent))["data"]["me"]["tenantIds"] == []
    deactivate = "mutation($i: UpsertUserInput!) { upsertUser(input: $i) { id } }"
    body = await graphql(
        client,
        deactivate,
        {"i": {"id": agent.user.id, "email": agent.user.email, "role": "AGENT", "active": False}},
        user=admin,
    )
    assert body["data"]["upsertUser"] == {"id": agent.user.id}, body
    refused = await graphql(client, ME, user=agent)
    assert refused["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}, refused


async def test_graphiql_opens_in_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_query_limits_reject_deep_and_alias_heavy_documents(
    client: httpx.AsyncClient, make_user
) -> None:
    user = await make_user("admin")
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(31))
    body = await graphql(client, "{ " + aliases + " }", user=user)
    assert body["errors"], body


async def test_a_malformed_request_body_gets_a_json_graphql_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_a_callers_bad_input_is_not_logged_as_a_server_error(
    client: httpx.AsyncClient, make_user, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user("admin")
    with caplog.at_level(logging.ERROR):
        body = await graphql(client, '{ tenant(id: "not-a-uuid") { id } }', user=user)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
