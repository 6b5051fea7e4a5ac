"""assignAgent / unassignAgent make an agent with a Dialpad id an operator of the tenant's call center
(and take them off), through our retrying client against the fake Dialpad over real HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from domain.roles import Role
from tests.conftest import error_codes, graphql
from tests.fake_dialpad import FakeDialpad
from tests.provisioning.test_provision_client import PROVISION

UPSERT = """
mutation Upsert($input: UpsertUserInput!) { upsertUser(input: $input) { id dialpadUserId } }
"""
ASSIGN = (
    "mutation A($u: ID!, $t: ID!) { assignAgent(userId: $u, tenantId: $t) { id tenantIds dialpadUserId } }"
)
UNASSIGN = "mutation U($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { id tenantIds } }"


async def _setup(
    prov_client, make_user, fake: FakeDialpad, dialpad_user_id: str | None = "777"
) -> tuple[Any, str, str, str]:
    admin = await make_user(Role.ADMIN)
    body = await graphql(
        prov_client, PROVISION, {"input": {"name": "Acme Solar", "timezone": "UTC"}}, user=admin
    )
    tenant_id = body["data"]["provisionClient"]["tenant"]["id"]
    [call_center] = fake.call_centers
    user: dict[str, Any] = {"email": "ana@example.com", "role": "AGENT"}
    if dialpad_user_id is not None:
        user["dialpadUserId"] = dialpad_user_id
    body = await graphql(prov_client, UPSERT, {"input": user}, user=admin)
    assert body["data"]["upsertUser"]["dialpadUserId"] == dialpad_user_id, body
    return admin, body["data"]["upsertUser"]["id"], tenant_id, call_center


async def _assigned(engine) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT user_id, tenant_id FROM agent_assignments"))
        return [(row.user_id, str(row.tenant_id)) for row in rows]


async def test_assign_and_unassign_add_and_remove_the_operator(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin, agent, tenant, center = await _setup(prov_client, make_user, fake_dialpad)
    ops = f"/api/v2/callcenters/{center}/operators"
    # Dialpad's rate limit answers 403 rate_limit_exceeded: retried like a 429.
    fake_dialpad.faults.clear()
    fake_dialpad.fail("POST", ops, 403, reason="rate_limit_exceeded", message="slow down", times=1)
    body = await graphql(prov_client, ASSIGN, {"u": agent, "t": tenant}, user=admin)
    assert error_codes(body) == [], body
    assert body["data"]["assignAgent"]["tenantIds"] == [tenant]
    assert fake_dialpad.operators[center] == {"777"}
    assert [r.body for r in fake_dialpad.calls("POST", ops)] == [{"user_id": 777}, {"user_id": 777}]
    assert await _assigned(engine) == [(agent, tenant)]

    body = await graphql(prov_client, UNASSIGN, {"u": agent, "t": tenant}, user=admin)
    assert body["data"]["unassignAgent"]["tenantIds"] == [], body
    assert fake_dialpad.operators[center] == set()
    assert [r.body for r in fake_dialpad.calls("DELETE", ops)] == [{"user_id": 777}]
    assert await _assigned(engine) == []


async def test_a_failing_dialpad_leaves_the_assignment_unchanged(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin, agent, tenant, center = await _setup(prov_client, make_user, fake_dialpad)
    ops = f"/api/v2/callcenters/{center}/operators"
    fake_dialpad.fail("POST", ops, 400, message="the user is not in this office")
    body = await graphql(prov_client, ASSIGN, {"u": agent, "t": tenant}, user=admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    # Dialpad's own words, not its JSON.
    assert "the user is not in this office" in body["errors"][0]["message"]
    assert "{" not in body["errors"][0]["message"]
    assert await _assigned(engine) == []
    assert fake_dialpad.operators.get(center, set()) == set()

    assert error_codes(await graphql(prov_client, ASSIGN, {"u": agent, "t": tenant}, user=admin)) == []
    fake_dialpad.fail("DELETE", ops, 403, message="not allowed")
    body = await graphql(prov_client, UNASSIGN, {"u": agent, "t": tenant}, user=admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    assert await _assigned(engine) == [(agent, tenant)]
    assert fake_dialpad.operators[center] == {"777"}


async def test_an_agent_without_a_dialpad_id_keeps_todays_behaviour(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin, agent, tenant, center = await _setup(prov_client, make_user, fake_dialpad, dialpad_user_id=None)
    before = len(fake_dialpad.requests)
    fake_dialpad.fail("POST", f"/api/v2/callcenters/{center}/operators", 500, times=100)
    body = await graphql(prov_client, ASSIGN, {"u": agent, "t": tenant}, user=admin)
    assert error_codes(body) == [], body
    assert await _assigned(engine) == [(agent, tenant)]
    assert len(fake_dialpad.requests) == before
    # A Dialpad id that is not one is refused with the field named.
    body = await graphql(
        prov_client,
        UPSERT,
        {"input": {"email": "ana@example.com", "role": "AGENT", "dialpadUserId": "ana"}},
        user=admin,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
