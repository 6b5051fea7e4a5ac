"""provisionClient, retryProvisioning and deprovisionClient through GraphQL, with our real client and a fake Dialpad."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from domain.provisioning import CALL_STATES
from domain.roles import Role
from persistence.provisioning import provisioning_lock
from tests.conftest import error_codes, graphql
from tests.fake_dialpad import API_KEY, FakeDialpad
from tests.provisioning.conftest import OFFICE_ID, app_client

PROVISION = """
mutation Provision($input: ProvisionClientInput!) {
  provisionClient(input: $input) {
    tenant { id name slug timezone status statusReason }
    webhooks { dialpadEvents inboundLeads }
    dialpadMode
  }
}
"""
RETRY = """
mutation Retry($id: ID!) {
  retryProvisioning(tenantId: $id) { tenant { id status statusReason } webhooks { dialpadEvents inboundLeads } }
}
"""
DEPROVISION = "mutation Deprovision($id: ID!) { deprovisionClient(tenantId: $id) { id status statusReason } }"

CC, WH, SUB = "/api/v2/callcenters", "/api/v2/webhooks", "/api/v2/subscriptions/call"
WEEKDAY = ["09:00", "17:00"]


async def _tenant_row(engine, slug: str) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(text("SELECT * FROM tenants WHERE slug = :slug"), {"slug": slug})
        ).first()


async def _provision(http, user, **input: Any) -> dict[str, Any]:
    return await graphql(
        http, PROVISION, {"input": {"name": "Acme Solar", "timezone": "America/Denver", **input}}, user=user
    )


async def test_happy_path_sends_the_documented_bodies_once_each(
    make_app, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    # Wired from settings as in production: DIALPAD_API_KEY set -> the real client on the lifespan's httpx.
    app = make_app(
        dialpad_api_key=API_KEY, dialpad_base_url=fake_dialpad.base_url, dialpad_office_id=OFFICE_ID
    )
    async with app_client(app) as http:
        body = await _provision(http, admin)
    assert "errors" not in body, body
    result = body["data"]["provisionClient"]
    assert result["tenant"]["slug"] == "acme-solar"
    assert result["tenant"]["status"] == "ACTIVE"
    assert result["dialpadMode"] == "LIVE"
    # Events come to the company endpoint: one webhook and one subscription for every tenant.
    assert result["webhooks"]["dialpadEvents"] == "http://testserver/webhooks/dialpad"
    assert result["webhooks"]["inboundLeads"].startswith("http://testserver/webhooks/lead/")

    # One look for namesake call centers (to recognise a lost attempt's later), the call center, then
    # (the first time only) the company webhook and subscription, each looked for before it is made.
    assert [(r.method, r.path) for r in fake_dialpad.requests] == [
        ("GET", CC),
        ("POST", CC),
        ("GET", WH),
        ("POST", WH),
        ("GET", SUB),
        ("POST", SUB),
    ]
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in fake_dialpad.requests)
    call_center, webhook, subscription = (r.body for r in fake_dialpad.requests if r.method == "POST")
    assert call_center == {
        "name": "Acme Solar",
        "office_id": int(OFFICE_ID),
        "hours_on": True,
        **{f"{day}_hours": WEEKDAY for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
        "saturday_hours": [],
        "sunday_hours": [],
    }
    assert set(webhook) == {"hook_url", "secret"}
    assert webhook["hook_url"] == "http://testserver/webhooks/dialpad"
    assert len(webhook["secret"]) >= 32
    [cc_id] = fake_dialpad.call_centers
    [wh_id] = fake_dialpad.webhooks
    [sub_id] = fake_dialpad.subscriptions
    assert subscription == {
        "endpoint_id": int(wh_id),
        "call_states": [
            "calling",
            "ringing",
            "connected",
            "queued",
            "hangup",
            "missed",
            "voicemail",
            "voicemail_uploaded",
            "dispositions",
            "recording",
        ],
        "enabled": True,
    }
    assert list(CALL_STATES) == subscription["call_states"]

    row = await _tenant_row(engine, "acme-solar")
    assert (row.status, row.dialpad_mode) == ("active", "live")
    assert (row.dialpad_call_center_id, row.dialpad_webhook_id, row.dialpad_subscription_id) == (
        cc_id,
        None,
        None,
    )
    assert row.dialpad_webhook_secret is None
    async with engine.connect() as connection:
        company = (await connection.execute(text("SELECT * FROM dialpad_company"))).one()
    assert (company.webhook_id, company.subscription_id, company.secret) == (wh_id, sub_id, webhook["secret"])
    assert row.timezone == "America/Denver"
    async with engine.connect() as connection:
        tokens = (
            (
                await connection.execute(
                    text("SELECT token FROM lead_webhooks WHERE tenant_id = :t AND active"), {"t": row.id}
                )
            )
            .scalars()
            .all()
        )
    assert result["webhooks"]["inboundLeads"] == f"http://testserver/webhooks/lead/{tokens[0]}"
    assert result["tenant"]["id"] == str(row.id)
    async with engine.connect() as connection:
        events = (
            await connection.execute(
                text("SELECT type, payload FROM events WHERE tenant_id = :t ORDER BY id"), {"t": row.id}
            )
        ).all()
    assert {event.type for event in events} == {"TENANT_UPDATED"}
    assert events[-1].payload["tenant"]["status"] == "active"
    assert all(webhook["secret"] not in str(event.payload) for event in events)

    # The next client: its call center only.
    before = len(fake_dialpad.requests)
    async with app_client(app) as http:
        body = await _provision(http, admin, name="Beta Roofing")
    assert body["data"]["provisionClient"]["tenant"]["status"] == "ACTIVE", body
    assert [(r.method, r.path) for r in fake_dialpad.requests[before:]] == [("GET", CC), ("POST", CC)]
    assert (len(fake_dialpad.webhooks), len(fake_dialpad.subscriptions)) == (1, 1)


async def test_business_hours_and_slug_are_taken_from_the_input(
    prov_client, fake_dialpad: FakeDialpad, make_user
):
    admin = await make_user(Role.ADMIN)
    hours = {"monday": ["08:00", "12:00", "13:00", "18:00"], "saturday": ["10:00", "14:00"]}
    body = await _provision(prov_client, admin, slug="acme-2", businessHours=hours, officeId="777")
    assert body["data"]["provisionClient"]["tenant"]["slug"] == "acme-2", body
    sent = fake_dialpad.calls("POST", CC)[0].body
    assert sent["office_id"] == 777
    assert sent["monday_hours"] == ["08:00", "12:00", "13:00", "18:00"]
    assert sent["saturday_hours"] == ["10:00", "14:00"]
    assert sent["tuesday_hours"] == []
    assert sent["sunday_hours"] == []


@pytest.mark.parametrize(
    ("step", "status", "undone", "left"),
    [
        (1, 400, [], 0),
        (2, 403, [CC], 0),
        # The company webhook is not the tenant's: it stays for the next provisioning to complete.
        (3, 500, [CC], 1),
    ],
)
async def test_a_failed_step_undoes_the_earlier_ones_and_marks_the_tenant_failed(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine, step, status, undone, left
):
    admin = await make_user(Role.ADMIN)
    # 500s are retried: fail every attempt so the step really fails.
    fake_dialpad.fail_step(step, status, times=100, message=f"step {step} refused")
    body = await _provision(prov_client, admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    [error] = body["errors"]
    assert error["extensions"]["dialpadStatus"] == status
    assert error["extensions"]["step"] == ["callcenter", "webhook", "subscription"][step - 1]
    assert f"step {step} refused" in error["message"]
    assert body["data"] is None

    assert fake_dialpad.resources() == left
    assert fake_dialpad.call_centers == {}
    deletes = [r.path.rsplit("/", 1)[0] for r in fake_dialpad.requests if r.method == "DELETE"]
    assert deletes == undone
    row = await _tenant_row(engine, "acme-solar")
    assert row.status == "failed"
    assert f"step {step} refused" in row.status_reason
    assert (row.dialpad_call_center_id, row.dialpad_webhook_id, row.dialpad_subscription_id) == (
        None,
        None,
        None,
    )
    async with engine.connect() as connection:
        hooks = (await connection.execute(text("SELECT count(*) FROM lead_webhooks"))).scalar()
    assert hooks == 0


async def test_retry_completes_a_failed_provisioning(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    fake_dialpad.fail_step(3, 400)
    body = await _provision(prov_client, admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    row = await _tenant_row(engine, "acme-solar")

    body = await graphql(prov_client, RETRY, {"id": str(row.id)}, user=admin)
    assert "errors" not in body, body
    result = body["data"]["retryProvisioning"]
    assert result["tenant"]["status"] == "ACTIVE"
    assert result["tenant"]["statusReason"] is None
    assert result["webhooks"]["inboundLeads"]
    assert (
        len(fake_dialpad.call_centers) == len(fake_dialpad.webhooks) == len(fake_dialpad.subscriptions) == 1
    )
    row = await _tenant_row(engine, "acme-solar")
    assert row.status == "active"
    assert row.dialpad_call_center_id in fake_dialpad.call_centers

    # A second retry on an active tenant changes nothing in Dialpad.
    before = len(fake_dialpad.requests)
    body = await graphql(prov_client, RETRY, {"id": str(row.id)}, user=admin)
    assert body["data"]["retryProvisioning"]["tenant"]["status"] == "ACTIVE"
    assert len(fake_dialpad.requests) == before


async def test_retry_resumes_from_stored_progress_never_a_second_call_center(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    # The subscription fails and so does deleting the call center: its id stays stored.
    fake_dialpad.fail_step(3, 400)
    fake_dialpad.fail("DELETE", CC, 400, times=1)
    body = await _provision(prov_client, admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    row = await _tenant_row(engine, "acme-solar")
    assert row.status == "failed"
    assert "cleanup incomplete" in row.status_reason
    assert row.dialpad_call_center_id in fake_dialpad.call_centers
    assert fake_dialpad.subscriptions == {}

    body = await graphql(prov_client, RETRY, {"id": str(row.id)}, user=admin)
    assert body["data"]["retryProvisioning"]["tenant"]["status"] == "ACTIVE", body
    assert len(fake_dialpad.calls("POST", CC)) == 1
    assert list(fake_dialpad.call_centers) == [row.dialpad_call_center_id]
    assert len(fake_dialpad.subscriptions) == 1


async def test_concurrent_provisioning_of_one_slug_makes_one_tenant(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    first, second = await asyncio.gather(_provision(prov_client, admin), _provision(prov_client, admin))
    codes = sorted([tuple(error_codes(first)), tuple(error_codes(second))])
    assert codes == [(), ("CONFLICT",)]
    loser = first if error_codes(first) else second
    assert loser["errors"][0]["extensions"]["fields"] == {"slug": "taken"}
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM tenants"))).scalar() == 1
    assert len(fake_dialpad.calls("POST", CC)) == 1
    assert len(fake_dialpad.call_centers) == 1


@pytest.mark.parametrize("role", [Role.AGENT, Role.CLIENT])
async def test_non_admins_are_forbidden(
    prov_client, fake_dialpad: FakeDialpad, make_user, make_tenant, engine, role
):
    tenant = await make_tenant()
    user = await make_user(role, tenant=tenant, tenants=[tenant])
    body = await _provision(prov_client, user)
    assert error_codes(body) == ["FORBIDDEN"]
    for document in (RETRY, DEPROVISION):
        assert error_codes(await graphql(prov_client, document, {"id": str(tenant.id)}, user=user)) == [
            "FORBIDDEN"
        ]
    assert fake_dialpad.requests == []
    assert await _tenant_row(engine, "acme-solar") is None


async def test_anonymous_callers_are_unauthenticated(prov_client, fake_dialpad: FakeDialpad):
    body = await graphql(prov_client, PROVISION, {"input": {"name": "Acme", "timezone": "UTC"}})
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert fake_dialpad.requests == []


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "/etc/passwd"}, "timezone"),
        # zoneinfo reads names as paths: a folder, or a name longer than a file name, raised OSError (500).
        ({"timezone": "America"}, "timezone"),
        ({"timezone": "Zone" * 100}, "timezone"),
        ({"slug": "Acme Solar"}, "slug"),
        ({"slug": "a"}, "slug"),
        ({"name": "!!!"}, "slug"),
        ({"officeId": "abc"}, "officeId"),
        ({"businessHours": {"monday": ["9:00", "17:00"]}}, "businessHours.monday"),
        ({"businessHours": {"tuesday": ["09:00"]}}, "businessHours.tuesday"),
        ({"businessHours": {"friday": ["17:00", "09:00"]}}, "businessHours.friday"),
    ],
)
async def test_bad_input_names_the_field(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine, input, field
):
    admin = await make_user(Role.ADMIN)
    body = await _provision(prov_client, admin, **input)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert field in body["errors"][0]["extensions"]["fields"]
    assert fake_dialpad.requests == []
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM tenants"))).scalar() == 0


async def test_live_dialpad_needs_an_office(make_app, dialpad, fake_dialpad: FakeDialpad, make_user):
    admin = await make_user(Role.ADMIN)
    async with app_client(make_app(dialpad=dialpad)) as http:
        body = await _provision(http, admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "officeId" in body["errors"][0]["extensions"]["fields"]
    assert fake_dialpad.requests == []


async def test_without_a_key_the_simulated_dialpad_provisions(make_app, make_user, engine):
    admin = await make_user(Role.ADMIN)
    async with app_client(make_app()) as http:
        body = await _provision(http, admin)
    result = body["data"]["provisionClient"]
    assert result["dialpadMode"] == "SIMULATED"
    assert result["tenant"]["status"] == "ACTIVE"
    row = await _tenant_row(engine, "acme-solar")
    assert row.dialpad_mode == "simulated"
    assert row.dialpad_call_center_id.isdigit()
    # The company secret is stored (events verify with it); simulated Dialpad ids are not.
    async with engine.connect() as connection:
        company = (await connection.execute(text("SELECT * FROM dialpad_company"))).one()
    assert company.secret
    assert (company.webhook_id, company.subscription_id) == (None, None)


async def test_deprovision_deletes_dialpad_resources_and_keeps_the_data(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    body = await _provision(prov_client, admin)
    tenant_id = body["data"]["provisionClient"]["tenant"]["id"]

    body = await graphql(prov_client, DEPROVISION, {"id": tenant_id}, user=admin)
    assert body["data"]["deprovisionClient"]["status"] == "SUSPENDED", body
    # Only the call center was the tenant's; the company webhook and subscription serve the others.
    assert fake_dialpad.call_centers == {}
    assert (len(fake_dialpad.webhooks), len(fake_dialpad.subscriptions)) == (1, 1)
    deletes = [r.path.rsplit("/", 1)[0] for r in fake_dialpad.requests if r.method == "DELETE"]
    assert deletes == [CC]
    row = await _tenant_row(engine, "acme-solar")
    assert row.status == "suspended"
    assert (
        row.dialpad_call_center_id,
        row.dialpad_webhook_id,
        row.dialpad_subscription_id,
        row.dialpad_webhook_secret,
    ) == (None,) * 4
    async with engine.connect() as connection:
        hooks = (
            (
                await connection.execute(
                    text("SELECT active FROM lead_webhooks WHERE tenant_id = :t"), {"t": row.id}
                )
            )
            .scalars()
            .all()
        )
    assert hooks == [False]

    # Again: nothing left to delete, nothing sent.
    before = len(fake_dialpad.requests)
    body = await graphql(prov_client, DEPROVISION, {"id": tenant_id}, user=admin)
    assert body["data"]["deprovisionClient"]["status"] == "SUSPENDED"
    assert len(fake_dialpad.requests) == before


async def test_deprovision_failure_keeps_what_is_left_for_the_next_call(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    tenant_id = (await _provision(prov_client, admin))["data"]["provisionClient"]["tenant"]["id"]
    fake_dialpad.fail("DELETE", CC, 403, message="not yours")
    body = await graphql(prov_client, DEPROVISION, {"id": tenant_id}, user=admin)
    assert error_codes(body) == ["DIALPAD_ERROR"]
    assert body["errors"][0]["extensions"]["dialpadStatus"] == 403
    assert "not yours" in body["errors"][0]["message"]
    row = await _tenant_row(engine, "acme-solar")
    assert row.status == "active"
    assert row.dialpad_call_center_id is not None

    body = await graphql(prov_client, DEPROVISION, {"id": tenant_id}, user=admin)
    assert body["data"]["deprovisionClient"]["status"] == "SUSPENDED"
    assert fake_dialpad.call_centers == {}


async def test_unknown_tenant_is_not_found(prov_client, make_user):
    admin = await make_user(Role.ADMIN)
    unknown = "00000000-0000-0000-0000-000000000000"
    for document in (RETRY, DEPROVISION):
        assert error_codes(await graphql(prov_client, document, {"id": unknown}, user=admin)) == ["NOT_FOUND"]
    assert error_codes(await graphql(prov_client, RETRY, {"id": "nope"}, user=admin)) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("step", [1, 2, 3])
async def test_a_lost_answer_is_adopted_not_created_twice(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine, step
):
    admin = await make_user(Role.ADMIN)
    # Somebody else's call center with the same name must never be taken for ours.
    fake_dialpad.call_centers["42"] = {"id": "42", "name": "Acme Solar", "office_id": OFFICE_ID}
    # Dialpad does the work but the answer arrives after our 0.5 s timeout.
    method, path = {1: ("POST", CC), 2: ("POST", WH), 3: ("POST", SUB)}[step]
    fake_dialpad.stall(method, path, seconds=2, process_first=True)
    body = await _provision(prov_client, admin)
    assert body["data"]["provisionClient"]["tenant"]["status"] == "ACTIVE", body
    for created in (CC, WH, SUB):
        assert len(fake_dialpad.calls("POST", created)) == 1
    assert len(fake_dialpad.call_centers) == 2
    assert len(fake_dialpad.webhooks) == len(fake_dialpad.subscriptions) == 1
    row = await _tenant_row(engine, "acme-solar")
    assert row.dialpad_call_center_id != "42"
    assert row.dialpad_call_center_id in fake_dialpad.call_centers
    async with engine.connect() as connection:
        company = (await connection.execute(text("SELECT * FROM dialpad_company"))).one()
    assert company.webhook_id in fake_dialpad.webhooks
    assert company.subscription_id in fake_dialpad.subscriptions
    assert company.secret == fake_dialpad.webhooks[company.webhook_id]["signature"]["secret"]


async def test_retry_refuses_while_another_holds_the_tenant_and_resumes_an_abandoned_one(
    prov_client, fake_dialpad: FakeDialpad, make_user, engine
):
    admin = await make_user(Role.ADMIN)
    # A provisioning whose process died after the call center: status still provisioning, id stored.
    fake_dialpad.call_centers["77"] = {"id": "77", "name": "Acme Solar", "office_id": OFFICE_ID}
    async with engine.begin() as connection:
        tenant_id = (
            await connection.execute(
                text(
                    "INSERT INTO tenants (name, slug, timezone, status, dialpad_mode, dialpad_call_center_id) "
                    "VALUES ('Acme Solar', 'acme-solar', 'UTC', 'provisioning', 'live', '77') RETURNING id"
                )
            )
        ).scalar()
    async with provisioning_lock(engine, tenant_id) as locked:
        assert locked
        body = await graphql(prov_client, RETRY, {"id": str(tenant_id)}, user=admin)
        assert error_codes(body) == ["CONFLICT"]
        assert error_codes(await graphql(prov_client, DEPROVISION, {"id": str(tenant_id)}, user=admin)) == [
            "CONFLICT"
        ]
    assert fake_dialpad.requests == []

    body = await graphql(prov_client, RETRY, {"id": str(tenant_id)}, user=admin)
    assert body["data"]["retryProvisioning"]["tenant"]["status"] == "ACTIVE", body
    assert fake_dialpad.calls("POST", CC) == []
    [subscription] = fake_dialpad.subscriptions.values()
    assert "target_id" not in subscription
