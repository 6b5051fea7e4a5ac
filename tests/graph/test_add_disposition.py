"""addDisposition through GraphQL: the same use case as Dialpad's dispositions events."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import error_codes, graphql
from tests.graph.factories import insert_call, insert_contact, insert_lead

ADD = "mutation($id: ID!, $d: String!) { addDisposition(callId: $id, disposition: $d) { id disposition lead { status } } }"


async def test_a_booking_disposition_books_the_lead_and_records_the_change(
    client: httpx.AsyncClient, engine: AsyncEngine, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    contact = await insert_contact(engine, tenant.id, name="Jane", phone="+61430363930")
    lead = await insert_lead(engine, tenant.id, contact_id=contact)
    call = await insert_call(engine, tenant.id, lead_id=lead, contact_id=contact)

    body = await graphql(client, ADD, {"id": str(call), "d": "Sales~Demo booked"}, user=agent)

    assert body["data"]["addDisposition"] == {
        "id": str(call),
        "disposition": "demo_booked",
        "lead": {"status": "BOOKED"},
    }
    async with engine.connect() as connection:
        lead_row = (
            await connection.execute(text("SELECT status, booked_at FROM leads WHERE id = :id"), {"id": lead})
        ).one()
        change = (
            await connection.execute(
                text("SELECT to_status, changed_by FROM lead_status_changes WHERE lead_id = :id"),
                {"id": lead},
            )
        ).one()
        kinds = (await connection.execute(text("SELECT type FROM events ORDER BY id"))).scalars().all()
    assert lead_row.status == "booked"
    assert lead_row.booked_at is not None
    assert (change.to_status, change.changed_by) == ("booked", agent.user.id)
    assert kinds == ["CALL_UPDATED", "LEAD_UPDATED"]


async def test_bad_dispositions_and_ids_name_the_field(
    client: httpx.AsyncClient, engine: AsyncEngine, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    call = await insert_call(engine, tenant.id, lead_id=None)
    for variables, field in (
        ({"id": str(call), "d": "   "}, "disposition"),
        ({"id": str(call), "d": "x" * 201}, "disposition"),
        ({"id": "not-a-uuid", "d": "Booked"}, "callId"),
    ):
        body = await graphql(client, ADD, variables, user=admin)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert field in body["errors"][0]["extensions"]["fields"]
    missing = await graphql(
        client, ADD, {"id": "00000000-0000-0000-0000-000000000000", "d": "Booked"}, user=admin
    )
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_text_postgresql_cannot_store_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, engine: AsyncEngine, make_tenant, make_user
) -> None:
    """A NUL (or lone surrogate) in a variable or in a string literal is the caller's bad input."""
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    contact = await insert_contact(engine, tenant.id, name="Jane", phone="+61430363930")
    call = await insert_call(engine, tenant.id, lead_id=None, contact_id=contact)

    answer = await client.post(
        "/graphql",
        json={"query": ADD, "variables": {"id": str(call), "d": "Booked\x00"}},
        headers={"Authorization": f"Bearer {agent.token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "NUL" in answer.json()["errors"][0]["message"]

    literal = 'mutation($id: ID!) { addDisposition(callId: $id, disposition: "Booked\\u0000") { id } }'
    body = await graphql(client, literal, {"id": str(call)}, user=agent)
    assert error_codes(body) == ["BAD_USER_INPUT"]

    async with engine.connect() as connection:
        disposition = (
            await connection.execute(text("SELECT disposition FROM calls WHERE id = :id"), {"id": call})
        ).scalar_one()
    assert disposition is None
