"""Mutations: each writes through its use case, records its event, and names the bad field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from graph.calls.types import Call
from graph.leads.types import Lead
from persistence.tenants import find_active_webhook
from tests.conftest import error_codes, graphql
from tests.graph.factories import insert_call, insert_lead

STATUS = "mutation($l: ID!, $s: LeadStatus!) { updateLeadStatus(leadId: $l, status: $s) { id status statusChangedAt } }"
NOTE = (
    "mutation($l: ID!, $b: String!) { addLeadNote(leadId: $l, body: $b) { id body authorEmail createdAt } }"
)


async def _events(engine: AsyncEngine) -> Sequence[Any]:
    async with engine.connect() as connection:
        return (
            await connection.execute(text("SELECT tenant_id, type, payload FROM events ORDER BY id"))
        ).all()


async def test_update_lead_status_records_history_and_one_lead_updated_event(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    lead = await insert_lead(engine, tenant.id)
    body = await graphql(client, STATUS, {"l": str(lead), "s": "CONTACTED"}, user=agent)
    assert body["data"]["updateLeadStatus"]["status"] == "CONTACTED"
    # The same status again changes nothing and records nothing.
    again = await graphql(client, STATUS, {"l": str(lead), "s": "CONTACTED"}, user=agent)
    assert again["data"]["updateLeadStatus"]["status"] == "CONTACTED"
    # A person may move a lead back (automatic moves may not).
    back = await graphql(client, STATUS, {"l": str(lead), "s": "NEW"}, user=agent)
    assert back["data"]["updateLeadStatus"]["status"] == "NEW"

    events = await _events(engine)
    assert [(row.tenant_id, row.type) for row in events] == [(tenant.id, "LEAD_UPDATED")] * 2
    payload = events[0].payload
    assert payload["lead"]["status"] == "contacted"
    assert "raw_data" not in payload["lead"]
    assert payload["contact"]["id"] == payload["lead"]["contact_id"]
    assert payload["changes"][:1] == ["status"]
    # Subscriptions rebuild the GraphQL type from the payload alone.
    from_event = Lead.from_snapshot(payload["lead"], payload["contact"])
    assert (str(from_event.id), from_event.status.value, from_event.known_contact is not None) == (
        str(lead),
        "contacted",
        True,
    )
    async with engine.connect() as connection:
        history = (
            await connection.execute(
                text("SELECT from_status, to_status, changed_by FROM lead_status_changes ORDER BY id")
            )
        ).all()
    assert [tuple(row) for row in history] == [
        ("new", "contacted", agent.user.id),
        ("contacted", "new", agent.user.id),
    ]


async def test_bad_input_names_the_field(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    lead = await insert_lead(engine, tenant.id)
    body = await graphql(client, NOTE, {"l": str(lead), "b": "   "}, user=admin)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "fields": {"body": "empty"}}
    body = await graphql(client, NOTE, {"l": "12", "b": "hi"}, user=admin)
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "fields": {"leadId": "not a valid id"},
    }
    body = await graphql(client, STATUS, {"l": str(lead), "s": "WON"}, user=admin)
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    body = await graphql(client, NOTE, {"l": "00000000-0000-4000-8000-000000000000", "b": "hi"}, user=admin)
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "fields": {"leadId": "unknown"}}
    assert await _events(engine) == []


async def test_add_lead_note_is_in_the_timeline_and_the_event(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    lead = await insert_lead(engine, tenant.id)
    body = await graphql(client, NOTE, {"l": str(lead), "b": "asked for Tuesday"}, user=admin)
    note = body["data"]["addLeadNote"]
    assert (note["body"], note["authorEmail"]) == ("asked for Tuesday", admin.user.email)
    [event] = await _events(engine)
    assert event.type == "LEAD_UPDATED"
    assert event.payload["changes"] == ["lead_notes"]
    assert event.payload["note"]["id"] == note["id"]


UPSERT = "mutation($i: UpsertUserInput!) { upsertUser(input: $i) { id email role tenantIds } }"
ASSIGN = "mutation($u: ID!, $t: ID!) { assignAgent(userId: $u, tenantId: $t) { id role tenantIds } }"


async def test_users_and_agent_assignments(client: httpx.AsyncClient, make_tenant, make_user) -> None:
    tenant, second = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    client_user = await graphql(
        client,
        UPSERT,
        {"i": {"email": "Owner@Shop.test", "role": "CLIENT", "tenantId": str(tenant.id)}},
        user=admin,
    )
    created = client_user["data"]["upsertUser"]
    assert (created["email"], created["role"], created["tenantIds"]) == (
        "owner@shop.test",
        "CLIENT",
        [str(tenant.id)],
    )
    # Upserting by email updates the same user.
    renamed = await graphql(
        client,
        UPSERT,
        {"i": {"email": "owner@shop.test", "role": "CLIENT", "tenantId": str(second.id)}},
        user=admin,
    )
    assert renamed["data"]["upsertUser"]["id"] == created["id"]
    assert renamed["data"]["upsertUser"]["tenantIds"] == [str(second.id)]

    body = await graphql(client, UPSERT, {"i": {"email": "nobody", "role": "AGENT"}}, user=admin)
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "fields": {"email": "not an email address"},
    }
    body = await graphql(client, UPSERT, {"i": {"email": "c@x.test", "role": "CLIENT"}}, user=admin)
    assert body["errors"][0]["extensions"]["fields"] == {"tenantId": "required for role client"}

    agent = (
        await graphql(
            client, UPSERT, {"i": {"id": "auth0|agent-7", "email": "a7@x.test", "role": "AGENT"}}, user=admin
        )
    )["data"]["upsertUser"]
    assert agent == {"id": "auth0|agent-7", "email": "a7@x.test", "role": "AGENT", "tenantIds": []}
    for target in (tenant, second, tenant):
        body = await graphql(client, ASSIGN, {"u": agent["id"], "t": str(target.id)}, user=admin)
    assert sorted(body["data"]["assignAgent"]["tenantIds"]) == sorted([str(tenant.id), str(second.id)])
    body = await graphql(
        client,
        "mutation($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { tenantIds } }",
        {"u": agent["id"], "t": str(tenant.id)},
        user=admin,
    )
    assert body["data"]["unassignAgent"]["tenantIds"] == [str(second.id)]

    body = await graphql(client, ASSIGN, {"u": created["id"], "t": str(tenant.id)}, user=admin)
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "fields": {"userId": "role is client, not agent"},
    }
    body = await graphql(client, ASSIGN, {"u": "ghost", "t": str(tenant.id)}, user=admin)
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "fields": {"userId": "unknown"}}
    body = await graphql(
        client, ASSIGN, {"u": agent["id"], "t": "00000000-0000-4000-8000-000000000000"}, user=admin
    )
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "fields": {"tenantId": "unknown"}}


async def test_rotating_a_lead_webhook_stops_the_old_url_at_once(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    old_token = tenant.webhook.token
    body = await graphql(
        client,
        "mutation($t: ID!) { rotateLeadWebhook(tenantId: $t) { id url active rotatedAt } }",
        {"t": str(tenant.id)},
        user=admin,
    )
    [hook] = body["data"]["rotateLeadWebhook"]
    assert hook["id"] == str(tenant.webhook.id)
    assert hook["rotatedAt"] is not None
    new_token = hook["url"].rsplit("/", 1)[1]
    assert new_token != old_token
    assert len(new_token) >= 22
    async with engine.connect() as connection:
        assert await find_active_webhook(connection, old_token) is None
        found = await find_active_webhook(connection, new_token)
    assert found is not None
    assert found[1].id == tenant.id
    listed = await graphql(
        client,
        "query($t: ID!) { tenant(id: $t) { leadWebhooks { url } } }",
        {"t": str(tenant.id)},
        user=admin,
    )
    assert listed["data"]["tenant"]["leadWebhooks"] == [{"url": hook["url"]}]


async def test_switching_a_lead_webhook_off_and_on(
    client: httpx.AsyncClient, make_tenant, make_user, engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    document = "mutation($id: ID!, $a: Boolean!) { setLeadWebhookActive(id: $id, active: $a) { id active } }"
    body = await graphql(client, document, {"id": str(tenant.webhook.id), "a": False}, user=admin)
    assert body["data"]["setLeadWebhookActive"] == {"id": str(tenant.webhook.id), "active": False}
    async with engine.connect() as connection:
        assert await find_active_webhook(connection, tenant.webhook.token) is None
    await graphql(client, document, {"id": str(tenant.webhook.id), "a": True}, user=admin)
    async with engine.connect() as connection:
        assert await find_active_webhook(connection, tenant.webhook.token) is not None
    body = await graphql(
        client, document, {"id": "00000000-0000-4000-8000-000000000000", "a": True}, user=admin
    )
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "fields": {"id": "unknown"}}


async def test_call_from_snapshot_matches_the_row(make_tenant, engine: AsyncEngine) -> None:
    from persistence.snapshots import snapshot

    tenant = await make_tenant()
    lead = await insert_lead(engine, tenant.id)
    call_id = await insert_call(engine, tenant.id, lead_id=lead, duration_seconds=12.25, agent_name="Eve")
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM calls WHERE id = :id"), {"id": call_id})).one()
    call = Call.from_snapshot(snapshot(row))
    assert (call.id, call.duration_seconds, call.agent and call.agent.name, call.lead_uuid) == (
        str(call_id),
        12.25,
        "Eve",
        lead,
    )
