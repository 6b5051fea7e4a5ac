"""Every operation x admin / agent / client x own / other tenant: the data, or exactly the right code.

Nothing of the other tenant may leak: not through nested fields, connections, totalCount or messages.
Every test runs on both read paths: compiled reads (docs/reads.md) and the resolvers alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from tests.conftest import error_codes, graphql
from tests.graph.factories import insert_call, insert_contact, insert_lead

OK = "ok"


@pytest.fixture(params=[True, False], ids=["compiled", "resolvers"])
async def app(make_app, request: pytest.FixtureRequest) -> AsyncIterator[Starlette]:
    """The app with compiled reads on, then off (CALLTRAX_GRAPHQL_COMPILED_READS)."""
    application = make_app(graphql_compiled_reads=request.param)
    async with LifespanManager(application, shutdown_timeout=20) as manager:
        application.state.lifespan_app = manager.app
        application.state.lifespan_state = manager._state
        yield application


@dataclass
class World:
    own: Any
    other: Any
    leads: dict[str, Any]
    calls: dict[str, Any]
    users: dict[str, Any]
    target_agent: Any
    secrets_of_other: list[str]


@pytest.fixture
async def world(make_tenant, make_user, engine) -> World:
    own = await make_tenant(name="Own Dental", slug="own-dental")
    other = await make_tenant(name="Rival Plumbing", slug="rival-plumbing")
    leads, calls = {}, {}
    for label, tenant in (("own", own), ("other", other)):
        contact = await insert_contact(
            engine,
            tenant.id,
            name=f"{label.title()} Customer",
            email=f"{label}@customer.test",
            phone=f"+1555000{len(label)}000",
        )
        leads[label] = await insert_lead(engine, tenant.id, contact_id=contact, notes=f"{label} lead notes")
        calls[label] = await insert_call(
            engine, tenant.id, lead_id=leads[label], contact_id=contact, agent_name=f"{label} agent"
        )
    users = {
        "admin": await make_user("admin"),
        "agent": await make_user("agent", tenants=[own]),
        "client": await make_user("client", tenant=own),
    }
    return World(
        own=own,
        other=other,
        leads=leads,
        calls=calls,
        users=users,
        target_agent=await make_user("agent"),
        secrets_of_other=[
            "Rival Plumbing",
            "rival-plumbing",
            "Other Customer",
            "other@customer.test",
            "other lead notes",
            "other agent",
            other.webhook.token,
            str(other.id),
            str(leads["other"]),
            str(calls["other"]),
        ],
    )


@dataclass(frozen=True)
class Case:
    name: str
    document: str
    # which tenant the operation targets -> variables
    variables: Any
    # role -> (expected when targeting own tenant, expected when targeting the other tenant)
    expect: dict[str, tuple[str, str]]


READ = {"admin": (OK, OK), "agent": (OK, "FORBIDDEN"), "client": (OK, "FORBIDDEN")}
HIDDEN = {"admin": (OK, OK), "agent": (OK, "NOT_FOUND"), "client": (OK, "NOT_FOUND")}
WORK = {"admin": (OK, OK), "agent": (OK, "NOT_FOUND"), "client": ("FORBIDDEN", "NOT_FOUND")}
ADMIN = {"admin": (OK, OK), "agent": ("FORBIDDEN", "FORBIDDEN"), "client": ("FORBIDDEN", "FORBIDDEN")}


def cases(world: World) -> list[Case]:
    tenant = {"own": world.own, "other": world.other}
    return [
        Case(
            "tenant(id)",
            "query($id: ID!) { tenant(id: $id) { id name } }",
            lambda t: {"id": str(tenant[t].id)},
            READ,
        ),
        Case(
            "tenant(slug)",
            "query($slug: String!) { tenant(slug: $slug) { id name } }",
            lambda t: {"slug": tenant[t].tenant.slug},
            READ,
        ),
        Case(
            "tenant.leadWebhooks",
            "query($id: ID!) { tenant(id: $id) { leadWebhooks { url } } }",
            lambda t: {"id": str(tenant[t].id)},
            {"admin": (OK, OK), "agent": ("FORBIDDEN", "FORBIDDEN"), "client": ("FORBIDDEN", "FORBIDDEN")},
        ),
        Case(
            "leads(tenantId)",
            "query($t: ID!) { leads(tenantId: $t) { totalCount edges { node { id contact { name } calls { id } } } } }",
            lambda t: {"t": str(tenant[t].id)},
            READ,
        ),
        Case(
            "lead(id)",
            "query($id: ID!) { lead(id: $id) { id notes contact { name } calls { agent { name } } timeline { kind } } }",
            lambda t: {"id": str(world.leads[t])},
            HIDDEN,
        ),
        Case(
            "calls(tenantId)",
            "query($t: ID!) { calls(tenantId: $t) { totalCount edges { node { id lead { id } contact { name } } } } }",
            lambda t: {"t": str(tenant[t].id)},
            READ,
        ),
        Case(
            "call(id)",
            "query($id: ID!) { call(id: $id) { id lead { notes } } }",
            lambda t: {"id": str(world.calls[t])},
            HIDDEN,
        ),
        Case(
            "updateLeadStatus",
            "mutation($id: ID!) { updateLeadStatus(leadId: $id, status: CONTACTED) { id status } }",
            lambda t: {"id": str(world.leads[t])},
            WORK,
        ),
        Case(
            "addLeadNote",
            'mutation($id: ID!) { addLeadNote(leadId: $id, body: "called back") { id body } }',
            lambda t: {"id": str(world.leads[t])},
            WORK,
        ),
        Case(
            "addDisposition",
            'mutation($id: ID!) { addDisposition(callId: $id, disposition: "Left voicemail") { id disposition } }',
            lambda t: {"id": str(world.calls[t])},
            WORK,
        ),
        Case(
            "upsertUser",
            'mutation($t: ID!) { upsertUser(input: {email: "new-client@example.com", role: CLIENT, tenantId: $t}) { id } }',
            lambda t: {"t": str(tenant[t].id)},
            ADMIN,
        ),
        Case(
            "assignAgent",
            "mutation($u: ID!, $t: ID!) { assignAgent(userId: $u, tenantId: $t) { id tenantIds } }",
            lambda t: {"u": world.target_agent.user.id, "t": str(tenant[t].id)},
            ADMIN,
        ),
        Case(
            "unassignAgent",
            "mutation($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { id tenantIds } }",
            lambda t: {"u": world.target_agent.user.id, "t": str(tenant[t].id)},
            ADMIN,
        ),
        Case(
            "rotateLeadWebhook",
            "mutation($t: ID!) { rotateLeadWebhook(tenantId: $t) { url } }",
            lambda t: {"t": str(tenant[t].id)},
            ADMIN,
        ),
        Case(
            "setLeadWebhookActive",
            "mutation($id: ID!) { setLeadWebhookActive(id: $id, active: true) { id active } }",
            lambda t: {"id": str(tenant[t].webhook.id)},
            ADMIN,
        ),
    ]


def _outcome(body: dict[str, Any]) -> str:
    codes = error_codes(body)
    if codes:
        return codes[0]
    return OK


async def test_every_operation_for_every_role_and_tenant(client: httpx.AsyncClient, world: World) -> None:
    mismatches: list[str] = []
    # The admin goes last: its successful mutations must not change what the others are allowed.
    for role in ("agent", "client", "admin"):
        user = world.users[role]
        for case in cases(world):
            for index, target in enumerate(("own", "other")):
                body = await graphql(client, case.document, case.variables(target), user=user)
                expected = case.expect[role][index]
                got = _outcome(body)
                if got != expected:
                    mismatches.append(
                        f"{case.name} as {role} on {target}: expected {expected}, got {got}: {body}"
                    )
                if got == OK and "errors" in body:
                    mismatches.append(f"{case.name} as {role} on {target}: partial errors {body['errors']}")
                if role != "admin":
                    text = json.dumps(body)
                    leaked = [
                        secret
                        for secret in world.secrets_of_other
                        if secret in text and secret not in json.dumps(case.variables(target))
                    ]
                    if leaked:
                        mismatches.append(f"{case.name} as {role} on {target} leaked {leaked}: {body}")
    assert not mismatches, "\n".join(mismatches)


async def test_anonymous_callers_get_unauthenticated_everywhere(
    client: httpx.AsyncClient, world: World
) -> None:
    for case in cases(world):
        body = await graphql(client, case.document, case.variables("own"))
        assert error_codes(body) == ["UNAUTHENTICATED"], (case.name, body)
    for document in (
        "{ tenants { id } }",
        "{ leads { totalCount } }",
        "{ calls { totalCount } }",
        "{ me { id } }",
    ):
        assert error_codes(await graphql(client, document)) == ["UNAUTHENTICATED"], document


UNSCOPED = """
{
  tenants { id name leads: id }
  leads(first: 100) { totalCount edges { node { id tenantId notes contact { name email } calls { id tenantId agent { name } } timeline { kind call { id } } } } }
  calls(first: 100) { totalCount edges { node { id tenantId lead { id notes } contact { name } } } }
}
"""


@pytest.mark.parametrize("role", ["agent", "client"])
async def test_lists_without_tenant_show_only_visible_tenants_and_counts(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    body = await graphql(client, UNSCOPED, user=world.users[role])
    assert "errors" not in body, body
    data = body["data"]
    assert [tenant["name"] for tenant in data["tenants"]] == ["Own Dental"]
    assert data["leads"]["totalCount"] == 1
    assert [edge["node"]["id"] for edge in data["leads"]["edges"]] == [str(world.leads["own"])]
    assert data["calls"]["totalCount"] == 1
    assert [edge["node"]["id"] for edge in data["calls"]["edges"]] == [str(world.calls["own"])]
    text = json.dumps(body)
    assert not [secret for secret in world.secrets_of_other if secret in text]


async def test_the_admin_sees_every_tenant_without_naming_one(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await graphql(client, UNSCOPED, user=world.users["admin"])
    assert "errors" not in body, body
    assert {tenant["name"] for tenant in body["data"]["tenants"]} == {"Own Dental", "Rival Plumbing"}
    assert body["data"]["leads"]["totalCount"] == 2
    assert body["data"]["calls"]["totalCount"] == 2


async def test_a_call_filter_on_another_tenants_lead_finds_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    document = "query($l: ID!) { calls(filter: {leadId: $l}) { totalCount edges { node { id } } } }"
    body = await graphql(client, document, {"l": str(world.leads["other"])}, user=world.users["agent"])
    assert body == {"data": {"calls": {"totalCount": 0, "edges": []}}}


async def test_an_agent_loses_a_tenant_at_once_when_unassigned(
    client: httpx.AsyncClient, world: World
) -> None:
    agent = world.users["agent"]
    document = "query($id: ID!) { lead(id: $id) { id } }"
    assert "errors" not in await graphql(client, document, {"id": str(world.leads["own"])}, user=agent)
    unassign = "mutation($u: ID!, $t: ID!) { unassignAgent(userId: $u, tenantId: $t) { tenantIds } }"
    body = await graphql(
        client, unassign, {"u": agent.user.id, "t": str(world.own.id)}, user=world.users["admin"]
    )
    assert body == {"data": {"unassignAgent": {"tenantIds": []}}}
    assert error_codes(await graphql(client, document, {"id": str(world.leads["own"])}, user=agent)) == [
        "NOT_FOUND"
    ]
