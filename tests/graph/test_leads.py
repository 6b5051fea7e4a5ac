"""Leads and calls through GraphQL: keyset pages, filters, stages on the tenant's clock, timelines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from domain.leads import StageBounds
from domain.tenants import TenantSettings
from tests.conftest import error_codes, graphql
from tests.graph.factories import BASE_TIME, insert_call, insert_contact, insert_lead

NOW = BASE_TIME + timedelta(days=30)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def clocked(make_app) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its clock fixed at NOW."""
    application = make_app(clock=FixedClock(NOW))
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


PAGE = """
query($t: ID, $first: Int, $after: String, $filter: LeadFilter) {
  leads(tenantId: $t, first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}
"""


def ids(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return [edge["node"]["id"] for edge in body["data"]["leads"]["edges"]]


async def test_pages_walk_every_lead_newest_first_without_gaps_or_repeats(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    expected = []
    for minute in range(7):
        # Two leads per instant: the id breaks the tie, so order stays total.
        for _ in range(2):
            expected.append(
                (
                    BASE_TIME + timedelta(minutes=minute),
                    str(
                        await insert_lead(engine, tenant.id, created_at=BASE_TIME + timedelta(minutes=minute))
                    ),
                )
            )
    expected.sort(reverse=True)
    seen: list[str] = []
    after = None
    while True:
        body = await graphql(client, PAGE, {"t": str(tenant.id), "first": 4, "after": after}, user=admin)
        seen += ids(body)
        connection = body["data"]["leads"]
        assert connection["totalCount"] == 14
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [lead_id for _, lead_id in expected]


async def test_first_is_bounded_and_cursors_are_checked(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    body = await graphql(client, PAGE, {"first": 101}, user=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {"first": "between 0 and 100"}
    body = await graphql(client, PAGE, {"after": "bm90LWEtY3Vyc29y"}, user=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "after" in body["errors"][0]["extensions"]["fields"]
    body = await graphql(client, PAGE, {"t": "not-a-uuid"}, user=admin)
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "fields": {"tenantId": "not a valid id"},
    }


async def test_filters_by_status_source_created_range_and_text(
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
    first = str(await insert_lead(engine, tenant.id, contact_id=ana, source="facebook", created_at=BASE_TIME))
    second = str(
        await insert_lead(
            engine, tenant.id, contact_id=bob, status="booked", created_at=BASE_TIME + timedelta(hours=1)
        )
    )
    third = str(
        await insert_lead(
            engine, tenant.id, contact_id=ana, status="contacted", created_at=BASE_TIME + timedelta(hours=2)
        )
    )

    async def matching(**filter_: Any) -> list[str]:
        return ids(await graphql(client, PAGE, {"t": str(tenant.id), "filter": filter_}, user=admin))

    assert await matching(status=["NEW", "CONTACTED"]) == [third, first]
    assert await matching(source=["facebook"]) == [first]
    later = (BASE_TIME + timedelta(hours=1)).isoformat()
    assert await matching(createdFrom=later) == [third, second]
    assert await matching(createdTo=later) == [first]
    assert await matching(search="ANA") == [third, first]
    assert await matching(search="lima.test") == [third, first]
    assert await matching(search="415 555") == [second]
    # LIKE wildcards in the text are literal.
    assert await matching(search="Bo_") == []
    assert await matching(search="bob_s") == [second]
    assert await matching(search="nobody") == []
    body = await graphql(client, PAGE, {"filter": {"createdFrom": later, "createdTo": later}}, user=admin)
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "fields": {"filter.createdTo": "not after createdFrom"},
    }


async def test_stage_follows_each_tenants_bounds_and_the_clock(
    clocked: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    standard = await make_tenant()
    # Stages of 1, 2 and 3 hours.
    fast = await make_tenant(settings=TenantSettings(stage_bounds=StageBounds(3600, 7200, 10800)))
    admin = await make_user("admin")
    made = {}
    for tenant in (standard, fast):
        for label, age in (
            ("30m", timedelta(minutes=30)),
            ("90m", timedelta(minutes=90)),
            ("2d", timedelta(days=2)),
            ("5d", timedelta(days=5)),
            ("9d", timedelta(days=9)),
        ):
            made[(tenant.tenant.slug, label)] = str(
                await insert_lead(engine, tenant.id, created_at=NOW - age)
            )
    booked = str(
        await insert_lead(engine, standard.id, status="booked", created_at=NOW - timedelta(minutes=5))
    )

    document = (
        "query($f: LeadFilter) { leads(first: 100, filter: $f) { totalCount edges { node { id stage } } } }"
    )
    body = await graphql(clocked, document, {}, user=admin)
    stages = {edge["node"]["id"]: edge["node"]["stage"] for edge in body["data"]["leads"]["edges"]}
    s, f = standard.tenant.slug, fast.tenant.slug
    assert stages[made[(s, "30m")]] == stages[made[(s, "90m")]] == "FOLLOW_UP_1"
    assert stages[made[(s, "2d")]] == "FOLLOW_UP_2"
    assert stages[made[(s, "5d")]] == "FOLLOW_UP_3"
    assert stages[made[(s, "9d")]] == "FOLLOW_UP_4"
    assert stages[made[(f, "30m")]] == "FOLLOW_UP_1"
    assert stages[made[(f, "90m")]] == "FOLLOW_UP_2"
    assert stages[made[(f, "2d")]] == stages[made[(f, "9d")]] == "FOLLOW_UP_4"
    assert stages[booked] is None
    # The filter agrees with the field for every stage, across both tenants at once.
    for stage in ("FOLLOW_UP_1", "FOLLOW_UP_2", "FOLLOW_UP_3", "FOLLOW_UP_4"):
        body = await graphql(clocked, document, {"f": {"stage": [stage]}}, user=admin)
        found = {edge["node"]["id"] for edge in body["data"]["leads"]["edges"]}
        assert found == {lead for lead, got in stages.items() if got == stage}, stage
        assert body["data"]["leads"]["totalCount"] == len(found)
    body = await graphql(
        clocked, document, {"f": {"stage": ["FOLLOW_UP_1"], "status": ["BOOKED"]}}, user=admin
    )
    assert body["data"]["leads"]["totalCount"] == 0


async def test_a_lead_shows_contact_calls_speed_to_lead_and_a_time_ordered_timeline(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    contact = await insert_contact(engine, tenant.id, name="Cara", city="Perth")
    lead = await insert_lead(
        engine,
        tenant.id,
        contact_id=contact,
        created_at=BASE_TIME,
        first_attempt_at=BASE_TIME + timedelta(seconds=95),
        notes="wants a quote",
    )
    await insert_call(
        engine,
        tenant.id,
        lead_id=lead,
        contact_id=contact,
        started_at=BASE_TIME + timedelta(seconds=95),
        status="no_answer",
    )
    await insert_call(
        engine,
        tenant.id,
        lead_id=lead,
        contact_id=contact,
        started_at=BASE_TIME + timedelta(minutes=20),
        status="completed",
        connected_at=BASE_TIME + timedelta(minutes=20, seconds=8),
        duration_seconds=61.5,
        disposition="booked",
        agent_name="Dee",
    )
    note = await graphql(
        client,
        'mutation($l: ID!) { addLeadNote(leadId: $l, body: "  left voicemail ") { body authorId } }',
        {"l": str(lead)},
        user=agent,
    )
    assert note["data"]["addLeadNote"] == {"body": "left voicemail", "authorId": agent.user.id}
    await graphql(
        client,
        "mutation($l: ID!) { updateLeadStatus(leadId: $l, status: BOOKED) { status } }",
        {"l": str(lead)},
        user=agent,
    )

    document = """
    query($id: ID!) { lead(id: $id) {
      notes speedToLeadSeconds status bookedAt
      contact { name city }
      calls { status durationSeconds disposition agent { name } lead { id } contact { name } }
      leadNotes { body }
      statusChanges { fromStatus toStatus changedBy }
      timeline { kind call { status } note { body } statusChange { toStatus } }
    } }
    """
    body = await graphql(client, document, {"id": str(lead)}, user=agent)
    assert "errors" not in body, body
    data = body["data"]["lead"]
    assert data["notes"] == "wants a quote"
    assert data["speedToLeadSeconds"] == 95.0
    assert data["status"] == "BOOKED"
    assert data["bookedAt"] is not None
    assert data["contact"] == {"name": "Cara", "city": "Perth"}
    assert data["calls"] == [
        {
            "status": "NO_ANSWER",
            "durationSeconds": None,
            "disposition": None,
            "agent": None,
            "lead": {"id": str(lead)},
            "contact": {"name": "Cara"},
        },
        {
            "status": "COMPLETED",
            "durationSeconds": 61.5,
            "disposition": "booked",
            "agent": {"name": "Dee"},
            "lead": {"id": str(lead)},
            "contact": {"name": "Cara"},
        },
    ]
    assert data["statusChanges"] == [{"fromStatus": "NEW", "toStatus": "BOOKED", "changedBy": agent.user.id}]
    # The note and status change were made now (after the 2025 calls), so they come last.
    assert [entry["kind"] for entry in data["timeline"]] == [
        "CREATED",
        "CALL",
        "CALL",
        "NOTE",
        "STATUS_CHANGE",
    ]
    assert data["timeline"][3]["note"] == {"body": "left voicemail"}
    assert data["timeline"][4]["statusChange"] == {"toStatus": "BOOKED"}


CALLS = """
query($t: ID, $f: CallFilter, $first: Int, $after: String) {
  calls(tenantId: $t, filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id } }
  }
}
"""


async def test_calls_filter_and_page_newest_first_with_unstarted_calls_first(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    lead = await insert_lead(engine, tenant.id)
    made = []
    for minute, direction, status, disposition in (
        (1, "outbound", "completed", "booked"),
        (2, "inbound", "missed", None),
        (3, "outbound", "no_answer", None),
        (4, "outbound", "completed", "not interested"),
    ):
        made.append(
            str(
                await insert_call(
                    engine,
                    tenant.id,
                    lead_id=lead if minute < 3 else None,
                    direction=direction,
                    status=status,
                    disposition=disposition,
                    started_at=BASE_TIME + timedelta(minutes=minute),
                )
            )
        )
    unstarted = str(await insert_call(engine, tenant.id, lead_id=None, status="ringing", started_at=None))

    async def matching(**filter_: Any) -> list[str]:
        body = await graphql(client, CALLS, {"t": str(tenant.id), "f": filter_}, user=admin)
        assert "errors" not in body, body
        return [edge["node"]["id"] for edge in body["data"]["calls"]["edges"]]

    assert await matching() == [unstarted, made[3], made[2], made[1], made[0]]
    assert await matching(direction=["INBOUND"]) == [made[1]]
    assert await matching(status=["COMPLETED"]) == [made[3], made[0]]
    assert await matching(disposition=["Booked "]) == [made[0]]
    assert await matching(leadId=str(lead)) == [made[1], made[0]]
    assert await matching(
        startedFrom=(BASE_TIME + timedelta(minutes=2)).isoformat(),
        startedTo=(BASE_TIME + timedelta(minutes=4)).isoformat(),
    ) == [made[2], made[1]]
    seen, after = [], None
    while True:
        body = await graphql(client, CALLS, {"t": str(tenant.id), "first": 2, "after": after}, user=admin)
        page = body["data"]["calls"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [unstarted, made[3], made[2], made[1], made[0]]


async def test_tenant_by_slug_and_its_webhook_urls_without_the_dialpad_secret(
    client: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant(slug="acme", dialpad_secret="dialpad-super-secret")
    admin = await make_user("admin")
    body = await graphql(
        client, '{ tenant(slug: "acme") { id slug leadWebhooks { id url active createdAt } } }', user=admin
    )
    hooks = body["data"]["tenant"]["leadWebhooks"]
    assert hooks == [
        {
            "id": str(tenant.webhook.id),
            "url": f"http://testserver/webhooks/lead/{tenant.webhook.token}",
            "active": True,
            "createdAt": hooks[0]["createdAt"],
        }
    ]
    # Nothing in the schema can reach the Dialpad secret.
    everything = await graphql(
        client,
        '{ tenant(slug: "acme") { id name slug timezone status statusReason dialpadMode dialpadCallCenterId createdAt updatedAt settings { slaSeconds } leadWebhooks { url } } }',
        user=admin,
    )
    assert "dialpad-super-secret" not in str(everything)
    body = await graphql(client, '{ tenant(slug: "nope") { id } }', user=admin)
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "fields": {"slug": "unknown"}}
    body = await graphql(client, "{ tenant { id } }", user=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
