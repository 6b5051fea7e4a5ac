"""provisionClient: business hours moved into the call center's timezone, and operators at creation."""

from __future__ import annotations

from sqlalchemy import text

from domain.roles import Role
from tests.conftest import error_codes, graphql
from tests.fake_dialpad import FakeDialpad

PROVISION = """
mutation Provision($input: ProvisionClientInput!) {
  provisionClient(input: $input) { tenant { id status } notes }
}
"""
UPSERT = "mutation U($input: UpsertUserInput!) { upsertUser(input: $input) { id } }"
WEEKDAY = ("monday", "tuesday", "wednesday", "thursday", "friday")


async def test_hours_are_sent_in_the_call_centers_timezone(prov_client, fake_dialpad: FakeDialpad, make_user):
    admin = await make_user(Role.ADMIN)
    fake_dialpad.office_timezone = "America/New_York"
    body = await graphql(
        prov_client, PROVISION, {"input": {"name": "Denver Solar", "timezone": "America/Denver"}}, user=admin
    )
    assert error_codes(body) == [], body
    # Same clock changes: one conversion holds all year, nothing to say.
    assert body["data"]["provisionClient"]["notes"] == []
    [call_center] = fake_dialpad.call_centers.values()
    assert [call_center[f"{day}_hours"] for day in WEEKDAY] == [["11:00", "19:00"]] * 5
    assert call_center["saturday_hours"] == call_center["sunday_hours"] == []
    [patch] = [r for r in fake_dialpad.requests if r.method == "PATCH"]
    assert patch.path == f"/api/v2/callcenters/{call_center['id']}"


async def test_hours_that_no_one_conversion_fits_say_so(prov_client, fake_dialpad: FakeDialpad, make_user):
    admin = await make_user(Role.ADMIN)
    fake_dialpad.office_timezone = "America/New_York"
    body = await graphql(
        prov_client,
        PROVISION,
        {"input": {"name": "Sydney Solar", "timezone": "Australia/Sydney"}},
        user=admin,
    )
    assert body["data"]["provisionClient"]["tenant"]["status"] == "ACTIVE", body
    [note] = body["data"]["provisionClient"]["notes"]
    assert "change clocks" in note
    assert "America/New_York" in note
    [call_center] = fake_dialpad.call_centers.values()
    # Monday 09:00 in Sydney is Sunday afternoon or evening in New York.
    assert call_center["sunday_hours"][0] in ("16:00", "17:00", "18:00")


async def test_operators_are_assigned_and_added_and_undone_with_a_failure(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    ana = await make_user(Role.AGENT)
    bob = await make_user(Role.AGENT)
    not_an_agent = await make_user(Role.ADMIN)
    await graphql(
        prov_client,
        UPSERT,
        {"input": {"id": ana.user.id, "email": ana.user.email, "role": "AGENT", "dialpadUserId": "901"}},
        user=admin,
    )

    body = await graphql(
        prov_client,
        PROVISION,
        {"input": {"name": "Acme", "timezone": "UTC", "operators": [not_an_agent.user.id]}},
        user=admin,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert fake_dialpad.requests == []

    body = await graphql(
        prov_client,
        PROVISION,
        {"input": {"name": "Acme", "timezone": "UTC", "operators": [ana.user.id, bob.user.id]}},
        user=admin,
    )
    assert error_codes(body) == [], body
    tenant_id = body["data"]["provisionClient"]["tenant"]["id"]
    [center] = fake_dialpad.call_centers
    assert fake_dialpad.operators[center] == {"901"}
    async with engine.connect() as connection:
        assigned = set(
            (await connection.execute(text("SELECT user_id, tenant_id::text FROM agent_assignments"))).all()
        )
    assert assigned == {(ana.user.id, tenant_id), (bob.user.id, tenant_id)}

    # Dialpad refuses the operator: the call center is deleted, nobody is assigned.
    # (The prefix matches /callcenters/{id}/operators, not the create.)
    fake_dialpad.fail("POST", "/api/v2/callcenters/", 400, message="not a user of this company")
    body = await graphql(
        prov_client,
        PROVISION,
        {"input": {"name": "Beta", "timezone": "UTC", "operators": [ana.user.id]}},
        user=admin,
    )
    assert error_codes(body) == ["DIALPAD_ERROR"], body
    assert "not a user of this company" in body["errors"][0]["message"]
    assert list(fake_dialpad.call_centers) == [center]
    async with engine.connect() as connection:
        count = (await connection.execute(text("SELECT count(*) FROM agent_assignments"))).scalar()
    assert count == 2
