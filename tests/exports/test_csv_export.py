"""CSV export over HTTP: the GraphQL lists' filters and scoping, tenant timezones, formula escaping, errors."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import graphql
from tests.graph.factories import BASE_TIME, insert_call, insert_contact, insert_lead


def table(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text)))


LEADS = """
query ($t: ID, $filter: LeadFilter) {
  leads(tenantId: $t, filter: $filter, first: 100) { edges { node { id } } }
}"""

CALLS = """
query ($t: ID, $filter: CallFilter) {
  calls(tenantId: $t, filter: $filter, first: 100) { edges { node { id } } }
}"""


def node_ids(body: dict[str, Any], field: str) -> list[str]:
    assert "errors" not in body, body
    return [edge["node"]["id"] for edge in body["data"][field]["edges"]]


async def test_lead_rows_in_the_tenants_timezone_with_formula_cells_escaped(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant(timezone="Australia/Perth", slug="perth")
    admin = await make_user("admin")
    contact = await insert_contact(
        engine,
        tenant.id,
        name='=HYPERLINK("http://evil.test","click")',
        email="@SUM(1+1)@evil.test",
        phone="+61412345678",
    )
    lead = await insert_lead(
        engine,
        tenant.id,
        contact_id=contact,
        source="-2+3",
        notes='\tline one\nline "two", with a comma',
        created_at=BASE_TIME,
        first_attempt_at=BASE_TIME + timedelta(seconds=42.5),
    )
    rows = table(await client.get("/export/leads.csv", headers=admin.headers))
    assert len(rows) == 1
    row = rows[0]
    assert row["lead_id"] == str(lead)
    assert row["tenant_slug"] == "perth"
    # 12:00 UTC is 20:00 in Perth (+08:00, no daylight saving).
    assert row["created_at"] == "2025-03-03T20:00:00.000+08:00"
    assert row["first_attempt_at"] == "2025-03-03T20:00:42.500+08:00"
    assert row["speed_to_lead_seconds"] == "42.500"
    assert row["status"] == "NEW"
    assert row["contact_name"] == '\'=HYPERLINK("http://evil.test","click")'
    assert row["contact_email"] == "'@SUM(1+1)@evil.test"
    # E.164 is a plain number to a spreadsheet, never a formula: written as it is (docs/leads.md).
    assert row["contact_phone"] == "+61412345678"
    assert row["source"] == "'-2+3"
    # Quotes, commas and newlines survive CSV quoting; the leading tab is neutralised too.
    assert row["notes"] == '\'\tline one\nline "two", with a comma'
    assert row["booked_at"] == ""


async def test_a_daylight_saving_tenant_gets_each_rows_own_offset(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant(timezone="America/New_York")
    admin = await make_user("admin")
    winter = await insert_lead(engine, tenant.id, created_at=BASE_TIME.replace(month=1))
    summer = await insert_lead(engine, tenant.id, created_at=BASE_TIME.replace(month=7))
    rows = table(await client.get("/export/leads.csv", headers=admin.headers))
    assert [(row["lead_id"], row["created_at"]) for row in rows] == [
        (str(summer), "2025-07-03T08:00:00.000-04:00"),
        (str(winter), "2025-01-03T07:00:00.000-05:00"),
    ]


async def test_lead_filters_select_what_the_graphql_list_selects(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    ana = await insert_contact(
        engine, tenant.id, name="Ana Lima", email="ana@lima.test", phone="+61412345678"
    )
    bob = await insert_contact(
        engine, tenant.id, name="Bob Stone", email="bob_stone@x.test", phone="+14155550100"
    )
    await insert_lead(engine, tenant.id, contact_id=ana, source="facebook", created_at=BASE_TIME)
    await insert_lead(
        engine, tenant.id, contact_id=bob, status="booked", created_at=BASE_TIME + timedelta(hours=1)
    )
    await insert_lead(
        engine, tenant.id, contact_id=ana, status="contacted", created_at=BASE_TIME + timedelta(hours=2)
    )
    later = (BASE_TIME + timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        ({}, []),
        ({"status": ["NEW", "CONTACTED"]}, [("status", "NEW"), ("status", "CONTACTED")]),
        ({"status": ["NEW", "CONTACTED"]}, [("status", "new,contacted")]),
        ({"source": ["facebook"]}, [("source", "facebook")]),
        ({"createdFrom": later}, [("createdFrom", later)]),
        ({"createdTo": later}, [("createdTo", later)]),
        ({"search": "ANA"}, [("search", "ANA")]),
        ({"search": "415 555"}, [("search", "415 555")]),
        ({"search": "Bo_"}, [("search", "Bo_")]),
        ({"stage": ["FOLLOW_UP_4"]}, [("stage", "FOLLOW_UP_4")]),
        ({"stage": ["FOLLOW_UP_1"]}, [("stage", "FOLLOW_UP_1")]),
        ({"status": ["BOOKED"], "search": "bob"}, [("status", "BOOKED"), ("search", "bob")]),
    ]
    for graphql_filter, params in cases:
        expected = node_ids(
            await graphql(client, LEADS, {"t": str(tenant.id), "filter": graphql_filter}, user=admin), "leads"
        )
        response = await client.get(
            "/export/leads.csv", params=[("tenantId", str(tenant.id)), *params], headers=admin.headers
        )
        assert [row["lead_id"] for row in table(response)] == expected, params
    assert len(expected) == 1


async def test_call_rows_and_filters_select_what_the_graphql_list_selects(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant(timezone="Europe/London")
    admin = await make_user("admin")
    lead = await insert_lead(engine, tenant.id)
    other_lead = await insert_lead(engine, tenant.id)
    booked = await insert_call(
        engine,
        tenant.id,
        lead_id=lead,
        disposition="booked",
        connected_at=BASE_TIME + timedelta(minutes=1, seconds=5),
        duration_seconds=61.5,
        agent_name="=cmd|' /C calc'!A0",
    )
    await insert_call(
        engine,
        tenant.id,
        lead_id=other_lead,
        direction="inbound",
        status="missed",
        started_at=BASE_TIME + timedelta(hours=3),
    )
    await insert_call(engine, tenant.id, lead_id=None, started_at=None)
    rows = table(await client.get("/export/calls.csv", headers=admin.headers))
    by_id = {row["call_id"]: row for row in rows}
    row = by_id[str(booked)]
    assert row["started_at"] == "2025-03-03T12:01:00.000+00:00"
    assert row["connected_at"] == "2025-03-03T12:01:05.000+00:00"
    assert row["direction"] == "OUTBOUND"
    assert row["status"] == "COMPLETED"
    assert row["disposition"] == "booked"
    assert row["duration_seconds"] == "61.500"
    assert row["agent_name"] == "'=cmd|' /C calc'!A0"
    assert row["lead_id"] == str(lead)
    later = (BASE_TIME + timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        ({}, []),
        ({"direction": ["INBOUND"]}, [("direction", "INBOUND")]),
        ({"status": ["COMPLETED"]}, [("status", "completed")]),
        ({"disposition": ["Booked "]}, [("disposition", "Booked ")]),
        ({"startedFrom": later}, [("startedFrom", later)]),
        ({"startedTo": later}, [("startedTo", later)]),
        ({"leadId": str(other_lead)}, [("leadId", str(other_lead))]),
    ]
    for graphql_filter, params in cases:
        expected = node_ids(
            await graphql(client, CALLS, {"t": str(tenant.id), "filter": graphql_filter}, user=admin), "calls"
        )
        response = await client.get(
            "/export/calls.csv", params=[("tenantId", str(tenant.id)), *params], headers=admin.headers
        )
        assert [row["call_id"] for row in table(response)] == expected, params
    assert len(expected) == 1


@pytest.mark.parametrize("path", ["/export/leads.csv", "/export/calls.csv"])
async def test_each_role_exports_only_the_tenants_it_may_see(
    client: httpx.AsyncClient, make_tenant, make_user, engine, path: str
) -> None:
    own = await make_tenant()
    other = await make_tenant()
    expected: dict[Any, set[str]] = {}
    for tenant in (own, other):
        lead = await insert_lead(engine, tenant.id)
        call = await insert_call(engine, tenant.id, lead_id=lead)
        expected[tenant.id] = {str(lead if path.endswith("leads.csv") else call)}
    id_column = "lead_id" if path.endswith("leads.csv") else "call_id"
    admin = await make_user("admin")
    agent = await make_user("agent", tenants=[own])
    client_user = await make_user("client", tenant=own)
    lonely_agent = await make_user("agent")

    async def exported(user: Any, **params: str) -> tuple[int, Any]:
        response = await client.get(path, params=params, headers=user.headers)
        if response.status_code != 200:
            return response.status_code, response.json()
        return 200, {row[id_column] for row in table(response)}

    assert await exported(admin) == (200, expected[own.id] | expected[other.id])
    assert await exported(admin, tenantId=str(other.id)) == (200, expected[other.id])
    for user in (agent, client_user):
        assert await exported(user) == (200, expected[own.id])
        assert await exported(user, tenantId=str(own.id)) == (200, expected[own.id])
        status, body = await exported(user, tenantId=str(other.id))
        assert status == 403
        assert body["error"]["code"] == "FORBIDDEN"
        assert body["error"]["fields"] == {"tenantId": "not visible to you"}
    assert await exported(lonely_agent) == (200, set())
    status, body = await exported(admin, tenantId="00000000-0000-0000-0000-000000000000")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    # Non-admins learn nothing about tenants that may not exist.
    status, body = await exported(agent, tenantId="00000000-0000-0000-0000-000000000000")
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize("path", ["/export/leads.csv", "/export/calls.csv"])
async def test_no_or_bad_token_is_401_json(client: httpx.AsyncClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic x"}):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_bad_parameters_are_422_naming_each_one(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    response = await client.get(
        "/export/leads.csv",
        params=[
            ("tenantId", "nope"),
            ("status", "NEW,LOST_IN_SPACE"),
            ("createdFrom", "yesterday"),
            ("createdTo", "2025-01-01T00:00:00"),
            ("staus", "NEW"),
            ("search", "a"),
            ("search", "b"),
        ],
        headers=admin.headers,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "BAD_USER_INPUT"
    assert set(error["fields"]) == {"tenantId", "status", "createdFrom", "createdTo", "staus", "search"}
    assert "LOST_IN_SPACE" in error["fields"]["status"]
    assert error["fields"]["createdTo"] == "needs a UTC offset (e.g. Z or +08:00)"
    # The list services' own checks come through with the parameter's name.
    response = await client.get(
        "/export/calls.csv",
        params={"startedFrom": "2025-01-02T00:00:00Z", "startedTo": "2025-01-01T00:00:00Z"},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"startedTo": "not after startedFrom"}
    response = await client.get("/export/leads.csv", params={"search": "x" * 201}, headers=admin.headers)
    assert (response.status_code, list(response.json()["error"]["fields"])) == (422, ["search"])


async def test_phone_cells_keep_e164_as_it_is_and_guard_anything_else(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    phones = {
        "e164": ("+61430363930", "+61430363930"),
        "spaced": ("+61 430 363 930", "'+61 430 363 930"),
        "formula": ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        "equals": ("=61430363930", "'=61430363930"),
        "too long": ("+1234567890123456", "'+1234567890123456"),
        "national": ("0430 363 930", "0430 363 930"),
    }
    for name, (stored, _) in phones.items():
        contact = await insert_contact(engine, tenant.id, name=name, phone=stored)
        await insert_lead(engine, tenant.id, contact_id=contact)
    rows = table(await client.get("/export/leads.csv", headers=admin.headers))
    assert {row["contact_name"]: row["contact_phone"] for row in rows} == {
        name: written for name, (_, written) in phones.items()
    }
