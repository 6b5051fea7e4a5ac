"""The webhook doors as an outside reviewer drives them: real HTTP against a served app, Dialpad events
signed as Dialpad signs them, bodies a careless or hostile sender writes. Each test is a defect found
that way (a 500, a garbage row, one tenant's event changing another's data)."""

from __future__ import annotations

import json
import logging
import random
import string
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dialpad_samples import sign

TENANT_SECRET = "dialpad-secret-for-tests"
COMPANY_SECRET = "company-secret-for-tests-0123456789abcdef"
NUMBER = "+14155550123"


@pytest.fixture
async def http(live_server: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO dialpad_company (id, secret) VALUES (1, :s)"), {"s": COMPANY_SECRET}
        )
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        yield client


def random_text(length: int) -> str:
    """Letters PostgreSQL cannot compress under its index row limit (a repeated one would)."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=length))


DAY_MS = 86_400_000


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def hangup(**changes: Any) -> dict[str, Any]:
    """An agent's answered outbound call that ended a second ago, as Dialpad sends its hangup."""
    now = int(time.time() * 1000)
    claims: dict[str, Any] = {
        "call_id": random.randint(10**15, 10**16),
        "state": "hangup",
        "direction": "outbound",
        "event_timestamp": now,
        "date_started": now - 60_000,
        "date_connected": now - 50_000,
        "date_ended": now - 1_000,
        "talk_time": 49_000,
        "external_number": NUMBER,
        "internal_number": "+14155550199",
        "target": {"id": 5821975242293248, "name": "Ana Agent", "type": "user"},
    }
    claims.update(changes)
    return claims


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql), params)).scalar_one())


async def test_a_lead_source_too_long_for_the_metrics_index_is_refused_not_a_500(http, make_tenant, engine):
    """`leads.source` is in ix_leads_metrics (INCLUDE): a 30,000-character utm_source failed the insert
    with PostgreSQL's index row limit and answered 500."""
    tenant = await make_tenant()
    response = await http.post(
        tenant.lead_url, json={"name": "Sam", "phone": NUMBER, "utm_source": random_text(30_000)}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == {"source": "at most 255 characters"}
    assert await count(engine, "SELECT count(*) FROM leads") == 0
    ok = await http.post(tenant.lead_url, json={"name": "Sam", "phone": NUMBER, "utm_source": "s" * 255})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("endpoint", ["tenant", "company"])
async def test_a_dialpad_agent_id_too_long_for_an_index_is_refused_not_a_500(
    http, make_tenant, engine, endpoint
):
    """The agent's id (`target.id`) is in ix_calls_metrics and on leads: a 20,000-character one answered
    500 on the tenant endpoint; on the company endpoint it waited in the inbox and failed every lead
    later posted at its number (logged, routed never)."""
    tenant = await make_tenant()
    claims = hangup(target={"id": random_text(20_000), "name": "Ana", "type": "user"})
    if endpoint == "tenant":
        response = await http.post(
            f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, TENANT_SECRET)
        )
    else:
        response = await http.post("/webhooks/dialpad", content=sign(claims, COMPANY_SECRET))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {"target.id": "at most 64 characters"}
    assert await count(engine, "SELECT count(*) FROM call_events") == 0
    assert await count(engine, "SELECT count(*) FROM dialpad_inbox") == 0


WRONG_TYPES = [
    pytest.param("call_id", {"id": 1}, id="call_id-object"),
    pytest.param("call_id", [1, 2], id="call_id-list"),
    pytest.param("call_id", True, id="call_id-bool"),
    pytest.param("call_id", 1.5, id="call_id-fraction"),
    pytest.param("state", {"name": "hangup"}, id="state-object"),
    pytest.param("master_call_id", [7], id="master-list"),
    pytest.param("entry_point_call_id", {"id": 7}, id="entry-point-object"),
    pytest.param("operator_call_id", True, id="operator-bool"),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES)
async def test_dialpad_ids_of_the_wrong_type_are_refused_not_stored_as_python_text(
    http, make_tenant, engine, key, value
):
    """A call id, state or leg link that is an object, list, boolean or fraction was stored as Python's
    text of it (a call `{'id': 1}`, a placeholder leg `True`): 400 naming the field, nothing written."""
    tenant = await make_tenant()
    response = await http.post(
        f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(hangup(**{key: value}), TENANT_SECRET)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {key: "a string or an integer"}
    assert await count(engine, "SELECT count(*) FROM calls") == 0
    # Integers as JSON numbers (Dialpad's webhooks), as strings (its REST) and written as 7.0 all read.
    for call_id in (6200000000000001, "6200000000000002", 6200000000000003.0):
        response = await http.post(
            f"/webhooks/dialpad/{tenant.tenant.slug}",
            content=sign(hangup(call_id=call_id, master_call_id=None), TENANT_SECRET),
        )
        assert response.status_code == 200, response.text
    assert await count(engine, "SELECT count(*) FROM calls WHERE external_id LIKE '62000000000000%'") == 3


async def test_dialpad_numbers_and_names_of_the_wrong_type_are_unknown_not_python_text(
    http, make_tenant, engine
):
    """An object or list where a number or name is expected is unreadable, so unknown: it was stored as
    Python's text of it (`{'e164': '+1415...'}` shown as the call's number)."""
    tenant = await make_tenant()
    claims = hangup(
        external_number={"e164": NUMBER}, internal_number=["+14155550199"], contact={"name": {"a": 1}}
    )
    response = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, TENANT_SECRET))
    assert response.status_code == 200, response.text
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT external_number, internal_number FROM calls"))).one()
    assert tuple(row) == (None, None)


async def test_an_agent_leg_that_came_before_its_call_center_leg_joins_it_when_that_leg_is_routed(
    http, make_tenant, make_user, engine
):
    """Company endpoint, a caller with no lead: the agent's leg (entry_point_call_id = the call-center
    leg) arrives first and waits in the inbox (nothing routes it yet); then the call-center leg, whose
    events do not name the agent's leg, is routed by its call center. The agent's leg stayed in the
    inbox for good: the answered call had no agent. It must join its customer call as if in order."""
    tenant = await make_tenant()
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE tenants SET dialpad_call_center_id = '4716644561813504' WHERE id = :t"),
            {"t": tenant.id},
        )
    center = {"id": 4716644561813504, "name": "Acme", "type": "callcenter"}
    agent = {"id": 5821975242293248, "name": "Ana Agent", "type": "user"}
    now = int(time.time() * 1000)

    def leg(call_id: int, state: str, at: int, target: dict[str, Any], **changes: Any) -> dict[str, Any]:
        claims = {
            "call_id": call_id,
            "state": state,
            "direction": "inbound",
            "event_timestamp": now + at,
            "date_started": now,
            "external_number": NUMBER,
            "internal_number": "+14155550100",
            "target": target,
            "group_id": "Office:1",
        }
        claims.update(changes)
        return claims

    answered = {"date_connected": now + 10_000}
    ended = {**answered, "date_ended": now + 110_000, "talk_time": 100_000}
    events = [
        leg(9002, "ringing", 2_000, agent, entry_point_call_id=9001),
        leg(9002, "connected", 10_000, agent, entry_point_call_id=9001, **answered),
        leg(9002, "hangup", 110_000, agent, entry_point_call_id=9001, **ended),
        leg(9001, "ringing", 0, center),
        leg(9001, "hangup", 111_000, center, **ended),
    ]
    answers = []
    for claims in events:
        response = await http.post("/webhooks/dialpad", content=sign(claims, COMPANY_SECRET))
        assert response.status_code == 200, response.text
        answers.append(response.json())
    assert [answer["inbox"] for answer in answers[:3]] == ["NO_TENANT"] * 3
    assert answers[3]["routed"] == "CALL_CENTER"
    assert await count(engine, "SELECT count(*) FROM dialpad_inbox WHERE routed_at IS NULL") == 0
    admin = await make_user("admin")
    response = await http.post(
        "/graphql",
        json={
            "query": "query($t: ID!) { calls(tenantId: $t) { edges { node { externalId status connectedAt"
            " agent { name } legs { externalId } } } } }",
            "variables": {"t": str(tenant.id)},
        },
        headers=admin.headers,
    )
    [call] = [edge["node"] for edge in response.json()["data"]["calls"]["edges"]]
    assert call["externalId"] == "9001"
    assert call["status"] == "COMPLETED"
    assert call["agent"] == {"name": "Ana Agent"}
    assert [leg["externalId"] for leg in call["legs"]] == ["9001", "9002"]


VOICEMAIL_AFTER_CONNECT = pytest.mark.xfail(
    strict=True,
    reason="documented trade-off (docs/dialpad.md, 'Outbound calls answered by voicemail'): lead facts only "
    "move earlier, so a lead reached by a call later found to be a voicemail stays reached; the lead's status "
    "and leadResponseRate then depend on arrival order. Left for the lead engineer: recomputing a lead's first "
    "connect from its person's customer calls in persistence/sql/call_outcome.sql would fix it.",
)


@pytest.mark.parametrize(
    "disposition_first",
    [
        pytest.param(False, id="connect-first", marks=VOICEMAIL_AFTER_CONNECT),
        pytest.param(True, id="disposition-first"),
    ],
)
async def test_a_voicemail_disposition_leaves_the_lead_unreached_whatever_the_order(
    http, make_tenant, make_user, engine, disposition_first
):
    """An agent's outbound call that Dialpad reports connected (talk 26 s) and the agent then marks
    "Left voicemail": the call is NO_ANSWER either way; the lead is reached only when the disposition
    happened to arrive after the connect."""
    tenant = await make_tenant()
    lead = await http.post(tenant.lead_url, json={"name": "Vic", "phone": NUMBER})
    assert lead.status_code == 201, lead.text
    now = int(time.time() * 1000) + 2_000
    common = {
        "call_id": 6300000000000001,
        "direction": "outbound",
        "date_started": now,
        "external_number": NUMBER,
        "target": {"id": 5821975242293248, "name": "Ana Agent", "type": "user"},
    }
    events = [
        {**common, "state": "connected", "event_timestamp": now + 4_000, "date_connected": now + 4_000},
        {
            **common,
            "state": "hangup",
            "event_timestamp": now + 30_000,
            "date_connected": now + 4_000,
            "date_ended": now + 30_000,
            "talk_time": 26_000,
        },
        {
            **common,
            "state": "dispositions",
            "event_timestamp": now + 40_000,
            "call_dispositions": "Sales~Left voicemail",
        },
    ]
    if disposition_first:
        events.reverse()
    for claims in events:
        response = await http.post(
            f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, TENANT_SECRET)
        )
        assert response.status_code == 200, response.text
    admin = await make_user("admin")
    response = await http.post(
        "/graphql",
        json={
            "query": "query($t: ID!, $from: DateTime!, $to: DateTime!) { calls(tenantId: $t) { edges { node { status } } }"
            " leads(tenantId: $t) { edges { node { status firstConnectedAt } } }"
            " metrics(tenantId: $t, from: $from, to: $to)"
            " { leadResponseRate { numerator denominator } } }",
            "variables": {"t": str(tenant.id), "from": iso_ms(now - DAY_MS), "to": iso_ms(now + DAY_MS)},
        },
        headers=admin.headers,
    )
    assert "errors" not in response.json(), response.json()
    data = response.json()["data"]
    assert [edge["node"]["status"] for edge in data["calls"]["edges"]] == ["NO_ANSWER"]
    assert [edge["node"] for edge in data["leads"]["edges"]] == [{"status": "NEW", "firstConnectedAt": None}]
    assert data["metrics"]["leadResponseRate"] == {"numerator": 0, "denominator": 1}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/webhooks/dialpad/some-tenant/extra", 404, "NOT_FOUND"),
        ("POST", "/webhooks/lead/", 404, "NOT_FOUND"),
        ("GET", "/webhooks/dialpad", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/webhooks/lead/some-token", 405, "METHOD_NOT_ALLOWED"),
    ],
)
async def test_the_routers_own_refusals_are_json_errors(http, method, path, status, code):
    """A path no route matches, or a method a webhook does not take, answered Starlette's plain text
    ("Not Found", "Method Not Allowed"); every other refusal is `{"error": {"code", "message"}}`."""
    response = await http.request(method, path, content=b"x")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if status == 405:
        assert "POST" in response.headers["allow"]


async def test_a_multipart_lead_without_a_boundary_is_a_400_and_logs_no_error(http, make_tenant, caplog):
    """python-multipart logged "No boundary given" at ERROR for this sender's mistake (the fuzz suite
    had to whitelist it); the door answers 400 before the parser sees it."""
    tenant = await make_tenant()
    with caplog.at_level(logging.ERROR):
        response = await http.post(
            tenant.lead_url, content=b"phone=0491570156", headers={"content-type": "multipart/form-data"}
        )
    assert response.status_code == 400, response.text
    assert "boundary" in response.json()["error"]["message"]
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_events_stored_before_the_door_refused_their_shape_do_not_block_their_call(
    http, make_tenant, engine
):
    """A call whose stored history holds an event the door now refuses (a state that is an object,
    stored before that was refused) answered 400 to every later event of the call, which Dialpad
    never retries; an inbox event like it stopped the routing of the events behind it. The old event
    is left out, as the recompute migration does."""
    tenant = await make_tenant()
    ringing = hangup(call_id=6400000000000001, state="ringing", date_connected=None, date_ended=None)
    response = await http.post(
        f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(ringing, TENANT_SECRET)
    )
    assert response.status_code == 200, response.text
    old = hangup(call_id=6400000000000001, state={"x": 1})
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO call_events (tenant_id, call_external_id, state, event_timestamp_ms, raw)"
                " VALUES (:t, '6400000000000001', '{''x'': 1}', 1, CAST(:raw AS jsonb))"
            ),
            {"t": tenant.id, "raw": json.dumps(old)},
        )
        # As the event's own write would have counted it.
        await connection.execute(
            text("UPDATE calls SET event_count = event_count + 1 WHERE external_id = '6400000000000001'")
        )
        await connection.execute(
            text(
                "INSERT INTO dialpad_inbox (call_external_id, state, event_timestamp_ms, external_number, reason, raw)"
                " VALUES ('6400000000000009', '[1]', 1, :n, 'NO_TENANT', CAST(:raw AS jsonb))"
            ),
            {"n": NUMBER, "raw": json.dumps(hangup(call_id=6400000000000009, state=[1]))},
        )
    response = await http.post(
        f"/webhooks/dialpad/{tenant.tenant.slug}",
        content=sign(hangup(call_id=6400000000000001), TENANT_SECRET),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "COMPLETED"
    waiting = hangup(call_id=6400000000000010)
    response = await http.post("/webhooks/dialpad", content=sign(waiting, COMPANY_SECRET))
    assert response.json()["inbox"] == "NO_TENANT"
    lead = await http.post(tenant.lead_url, json={"name": "Sam", "phone": NUMBER})
    assert lead.status_code == 201, lead.text
    assert await count(engine, "SELECT count(*) FROM calls WHERE external_id = '6400000000000010'") == 1
