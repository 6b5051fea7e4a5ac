"""`POST /webhooks/dialpad` over real HTTP: company-signed events routed to their tenant, or kept in the inbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.roles import Role
from tests.conftest import error_codes, graphql
from tests.dialpad_samples import sample, sign

COMPANY_SECRET = "company-secret-for-tests-0123456789abcdef"
OFFICE = "Office:5527348325810176"
AGENT = {"id": 5821975242293248, "name": "Ana Agent", "email": "ana@example.com", "type": "user"}
NUMBER = "+61430363930"
# When this test's calls start: a minute after it began, so the leads it posts come first.
START = [0]


@pytest.fixture
async def http(live_server: str, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    START[0] = int(time.time() * 1000) + 60_000
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO dialpad_company (id, secret) VALUES (1, :s)"), {"s": COMPANY_SECRET}
        )
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


async def set_call_center(engine: AsyncEngine, tenant_id: Any, call_center_id: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE tenants SET dialpad_call_center_id = :cc WHERE id = :t"),
            {"cc": call_center_id, "t": tenant_id},
        )


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(found._mapping) for found in (await connection.execute(text(sql), params))]


def now_based(claims: dict[str, Any]) -> dict[str, Any]:
    """The sample's times moved to now, so a lead created by the test precedes the call."""
    delta = START[0] - 1768492800000
    for key in ("event_timestamp", "date_started", "date_rang", "date_connected", "date_ended"):
        if isinstance(claims.get(key), int):
            claims[key] += delta
    return claims


def direct_line(
    state: str, *, call_id: int = 7001, number: str = NUMBER, at: int = 1768492800350
) -> dict[str, Any]:
    """An agent dialling from their own line: target the agent, no proxy target, the office's group."""
    claims = sample("outbound-1-calling" if state == "calling" else "outbound-3-hangup")
    claims.update(
        call_id=call_id,
        external_number=number,
        target=AGENT,
        proxy_target={},
        entry_point_target={},
        group_id=OFFICE,
        event_timestamp=at,
    )
    claims["contact"]["phone"] = number
    return now_based(claims)


async def post_lead(http: httpx.AsyncClient, lead_url: str, phone: str = NUMBER) -> None:
    response = await http.post(lead_url, json={"contact": {"name": "Jane Citizen", "phone": phone}})
    assert response.status_code == 201, response.text


async def post_event(
    http: httpx.AsyncClient, claims: dict[str, Any], secret: str = COMPANY_SECRET
) -> httpx.Response:
    return await http.post("/webhooks/dialpad", content=sign(claims, secret))


async def test_a_direct_line_call_reaches_the_tenant_whose_lead_has_the_number(http, make_tenant, engine):
    owner, other = await make_tenant(), await make_tenant()
    await set_call_center(engine, other.id, "4716644561813504")
    await post_lead(http, owner.lead_url)
    # The first event finds the lead's tenant by number; the next follows its leg there.
    for state, at, how in (
        ("calling", 1768492800350, "LEAD_NUMBER"),
        ("hangup", 1768492994100, "LINKED_CALL"),
    ):
        response = await post_event(http, direct_line(state, at=at))
        assert response.status_code == 200, response.text
        assert response.json()["routed"] == how
    [call] = await rows(engine, "SELECT tenant_id, external_id, direction, lead_id FROM calls")
    assert (call["tenant_id"], call["external_id"], call["direction"]) == (owner.id, "7001", "outbound")
    [lead] = await rows(
        engine, "SELECT id, first_attempt_at, status FROM leads WHERE tenant_id = :t", t=owner.id
    )
    assert call["lead_id"] == lead["id"]
    assert lead["first_attempt_at"] is not None
    assert lead["status"] == "contacted"


async def test_the_newest_open_lead_wins_when_two_tenants_have_the_number(http, make_tenant, engine):
    older, newer = await make_tenant(), await make_tenant()
    await post_lead(http, older.lead_url)
    await post_lead(http, newer.lead_url)
    response = await post_event(http, direct_line("calling"))
    assert response.json()["routed"] == "LEAD_NUMBER"
    assert [c["tenant_id"] for c in await rows(engine, "SELECT tenant_id FROM calls")] == [newer.id]


async def test_a_call_center_target_reaches_its_tenant_even_with_an_unknown_number(http, make_tenant, engine):
    center, decoy = await make_tenant(), await make_tenant()
    await set_call_center(engine, center.id, "4716644561813504")
    # Another tenant's lead at the number does not outrank the call center on the call.
    await post_lead(http, decoy.lead_url)
    claims = sample("inbound-1-missed")
    claims.update(
        target={"id": "4716644561813504", "type": "callcenter", "name": "Acme"}, external_number=NUMBER
    )
    response = await post_event(http, claims)
    assert response.status_code == 200, response.text
    assert response.json()["routed"] == "CALL_CENTER"
    # The group id names it too, and an unknown number does not matter.
    group = sample("inbound-1-missed")
    group.update(
        call_id=99, target=AGENT, group_id="CallCenter:4716644561813504", external_number="+61400000001"
    )
    assert (await post_event(http, group)).json()["routed"] == "CALL_CENTER"
    # The agent's leg links to the call-center leg and follows it.
    agent_leg = sample("inbound-1-missed")
    agent_leg.update(
        call_id=100,
        target=AGENT,
        proxy_target={},
        entry_point_target={},
        group_id=OFFICE,
        entry_point_call_id=99,
        external_number="+61400000001",
    )
    assert (await post_event(http, agent_leg)).json()["routed"] == "LINKED_CALL"
    found = await rows(engine, "SELECT tenant_id, external_id FROM calls ORDER BY external_id")
    assert {c["tenant_id"] for c in found} == {center.id}
    assert sorted(c["external_id"] for c in found) == sorted([str(claims["call_id"]), "99", "100"])


async def test_an_unroutable_event_waits_in_the_inbox_and_is_applied_when_the_lead_arrives(
    http, make_tenant, engine
):
    tenant = await make_tenant(timezone="Australia/Perth")
    first = await post_event(http, direct_line("calling"))
    assert first.status_code == 200, first.text
    assert first.json()["inbox"] == "NO_TENANT"
    assert (await post_event(http, direct_line("calling"))).json()["duplicate"] is True
    # A later event of the same leg without a number waits too, and goes with the leg.
    recording = direct_line("hangup", at=1768492994100)
    recording.pop("external_number")
    recording["contact"] = {}
    assert (await post_event(http, recording)).json()["inbox"] == "NO_TENANT"
    assert await rows(engine, "SELECT * FROM calls") == []
    waiting = await rows(engine, "SELECT reason, external_number, routed_at FROM dialpad_inbox ORDER BY id")
    assert waiting == [
        {"reason": "NO_TENANT", "external_number": NUMBER, "routed_at": None},
        {"reason": "NO_TENANT", "external_number": None, "routed_at": None},
    ]

    await post_lead(http, tenant.lead_url, phone="0430 363 930")
    [call] = await rows(engine, "SELECT tenant_id, status, lead_id FROM calls")
    assert call["tenant_id"] == tenant.id
    assert call["status"] == "completed"
    assert call["lead_id"] is not None
    routed = await rows(engine, "SELECT routed_tenant_id FROM dialpad_inbox")
    assert [r["routed_tenant_id"] for r in routed] == [tenant.id, tenant.id]
    # Later events of the leg follow it.
    late = direct_line("hangup", at=1768492999999)
    late["state"] = "recording"
    assert (await post_event(http, late)).json()["routed"] in ("LINKED_CALL", "LEAD_NUMBER")


async def test_internal_calls_are_stored_never_applied(http, make_tenant, engine):
    tenant = await make_tenant()
    await post_lead(http, tenant.lead_url)
    claims = direct_line("calling")
    claims["is_internal"] = True
    response = await post_event(http, claims)
    assert response.json()["inbox"] == "INTERNAL"
    assert await rows(engine, "SELECT * FROM calls") == []
    # A lead at the number later does not apply it either.
    await post_lead(http, tenant.lead_url, phone=NUMBER)
    assert await rows(engine, "SELECT * FROM calls") == []
    assert [r["reason"] for r in await rows(engine, "SELECT reason FROM dialpad_inbox")] == ["INTERNAL"]


async def test_an_event_for_tenant_a_never_changes_tenant_b(http, make_tenant, engine):
    a, b = await make_tenant(), await make_tenant()
    await set_call_center(engine, a.id, "111")
    await post_lead(http, b.lead_url)
    claims = direct_line("calling")
    claims["proxy_target"] = {"id": 111, "type": "callcenter"}
    assert (await post_event(http, claims)).json()["routed"] == "CALL_CENTER"
    # Signed with a tenant's own secret (not the company's), or forged: refused, nothing stored.
    forged = direct_line("calling", call_id=8001)
    for secret in ("dialpad-secret-for-tests", "not-the-secret"):
        response = await post_event(http, forged, secret)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    unsigned = await http.post("/webhooks/dialpad", json=forged)
    assert unsigned.status_code == 401
    # The per-tenant endpoint still takes only that tenant's secret.
    response = await http.post(f"/webhooks/dialpad/{b.tenant.slug}", content=sign(forged, COMPANY_SECRET))
    assert response.status_code == 401
    assert await rows(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=b.id) == []
    [lead] = await rows(engine, "SELECT first_attempt_at, status FROM leads WHERE tenant_id = :t", t=b.id)
    assert (lead["first_attempt_at"], lead["status"]) == (None, "new")
    assert len(await rows(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=a.id)) == 1


async def test_without_a_company_secret_events_are_refused(live_server, engine):
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.post(
            "/webhooks/dialpad", content=sign(direct_line("calling"), COMPANY_SECRET)
        )
    assert response.status_code == 401
    assert "dialpad setup" in response.json()["error"]["message"]
    bad = await rows(engine, "SELECT count(*) AS n FROM dialpad_inbox")
    assert bad == [{"n": 0}]


SETUP = "{ dialpadSetup { endpointUrl secret webhookId subscriptionId } }"
INBOX = "query I($all: Boolean!) { dialpadInbox(waitingOnly: $all) { callId state reason externalNumber routedTenantId raw } }"


async def test_admins_see_the_setup_and_the_inbox_with_the_reason(http, make_tenant, make_user, engine):
    admin = await make_user(Role.ADMIN)
    agent = await make_user(Role.AGENT)
    body = await graphql(http, SETUP, user=admin)
    assert body["data"]["dialpadSetup"] == {
        "endpointUrl": "http://testserver/webhooks/dialpad",
        "secret": COMPANY_SECRET,
        "webhookId": None,
        "subscriptionId": None,
    }
    assert error_codes(await graphql(http, SETUP, user=agent)) == ["FORBIDDEN"]
    assert error_codes(await graphql(http, INBOX, {"all": True}, user=agent)) == ["FORBIDDEN"]

    await post_event(http, direct_line("calling"))
    internal = direct_line("calling", call_id=7002)
    internal["is_internal"] = True
    await post_event(http, internal)
    body = await graphql(http, INBOX, {"all": True}, user=admin)
    events = body["data"]["dialpadInbox"]
    assert [(e["callId"], e["reason"], e["externalNumber"]) for e in events] == [
        ("7002", "INTERNAL", NUMBER),
        ("7001", "NO_TENANT", NUMBER),
    ]
    assert events[1]["raw"]["call_id"] == 7001

    tenant = await make_tenant()
    await post_lead(http, tenant.lead_url)
    waiting = (await graphql(http, INBOX, {"all": True}, user=admin))["data"]["dialpadInbox"]
    assert [e["callId"] for e in waiting] == ["7002"]
    everything = (await graphql(http, INBOX, {"all": False}, user=admin))["data"]["dialpadInbox"]
    assert [e["routedTenantId"] for e in everything] == [None, str(tenant.id)]


async def test_an_earlier_event_of_a_leg_follows_it_once_the_leg_is_routed(http, make_tenant, engine):
    tenant = await make_tenant()
    await set_call_center(engine, tenant.id, "4716644561813504")
    # The leg's end arrives first, with nothing to route it by (no number, no call center).
    ended = direct_line("hangup", call_id=9001, at=1768492994100)
    ended.pop("external_number")
    ended["contact"] = {}
    assert (await post_event(http, ended)).json()["inbox"] == "NO_TENANT"
    # Then its start, on the tenant's call center: both are applied, in event order.
    started = direct_line("calling", call_id=9001)
    started["proxy_target"] = {"id": 4716644561813504, "type": "callcenter"}
    assert (await post_event(http, started)).json()["routed"] == "CALL_CENTER"
    [call] = await rows(engine, "SELECT tenant_id, status FROM calls")
    assert (call["tenant_id"], call["status"]) == (tenant.id, "completed")
    assert [
        r["routed_tenant_id"] for r in await rows(engine, "SELECT routed_tenant_id FROM dialpad_inbox")
    ] == [tenant.id]


async def test_an_open_lead_wins_over_a_newer_closed_one_which_still_beats_the_inbox(
    http, make_tenant, engine
):
    open_lead, closed_lead = await make_tenant(), await make_tenant()
    await post_lead(http, open_lead.lead_url)
    await post_lead(http, closed_lead.lead_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE leads SET status = 'booked' WHERE tenant_id = :t"), {"t": closed_lead.id}
        )
    assert (await post_event(http, direct_line("calling"))).json()["routed"] == "LEAD_NUMBER"
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE leads SET status = 'closed' WHERE tenant_id = :t"), {"t": open_lead.id}
        )
    # No open lead anywhere: the newest lead's tenant, not the inbox.
    response = await post_event(http, direct_line("calling", call_id=7003))
    assert response.json()["routed"] == "CLOSED_LEAD_NUMBER"
    found = await rows(engine, "SELECT tenant_id, external_id FROM calls ORDER BY external_id")
    assert [(c["tenant_id"], c["external_id"]) for c in found] == [
        (open_lead.id, "7001"),
        (closed_lead.id, "7003"),
    ]
