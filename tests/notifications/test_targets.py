"""Managing notification targets: admins only, input checked, the secret shown once, deletion cancels."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.roles import Role
from tests.conftest import error_codes, graphql, serve
from tests.notifications.support import CREATE_TARGET, LOOPBACK_ALLOWED, Receiver, create_target, running
from tests.support_leads import eventually, insert_lead, scalar

TARGETS = """
query ($tenantId: ID!) { notificationTargets(tenantId: $tenantId) { id url emails events createdAt } }
"""
DELETE = "mutation ($id: ID!) { deleteNotificationTarget(id: $id) }"


async def test_only_admins_manage_targets_and_see_deliveries(client, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    created = await create_target(client, admin, tenant.id, url="https://hooks.example.com/calltrax")
    target_id = created["target"]["id"]
    agent = await make_user(Role.AGENT, tenants=[tenant.id])
    customer = await make_user(Role.CLIENT, tenant=tenant.id)
    operations: list[tuple[str, dict[str, Any]]] = [
        (CREATE_TARGET, {"tenantId": str(tenant.id), "input": {"url": "https://evil.example.com/"}}),
        (TARGETS, {"tenantId": str(tenant.id)}),
        (DELETE, {"id": target_id}),
    ]
    for document, variables in operations:
        for user in (agent, customer):
            body = await graphql(client, document, variables, user=user)
            assert error_codes(body) == ["FORBIDDEN"], (document, user.user.role)
            assert body["data"] is None
        assert error_codes(await graphql(client, document, variables)) == ["UNAUTHENTICATED"]

    listed = await graphql(client, TARGETS, {"tenantId": str(tenant.id)}, user=admin)
    assert listed["data"]["notificationTargets"] == [
        {
            "id": target_id,
            "url": "https://hooks.example.com/calltrax",
            "emails": [],
            "events": ["BOOKED", "NEW_LEAD", "SLA_BREACHED"],
            "createdAt": created["target"]["createdAt"],
        }
    ]


async def test_the_secret_is_shown_once_and_never_listed(client, make_tenant, make_user, engine) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    created = await create_target(client, admin, tenant.id, url="https://hooks.example.com/a")
    assert await scalar(engine, "SELECT secret FROM notification_targets") == created["secret"]
    body = await graphql(
        client,
        "query ($t: ID!) { notificationTargets(tenantId: $t) { secret } }",
        {"t": str(tenant.id)},
        user=admin,
    )
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    second = await create_target(client, admin, tenant.id, url="https://hooks.example.com/b")
    assert second["secret"] != created["secret"]


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://files.example.com/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"emails": ["someone"]}, "emails"),
        ({"emails": ["  "]}, "url"),
    ],
)
async def test_bad_targets_are_refused_naming_the_field(
    client, make_tenant, make_user, target, field
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    body = await graphql(client, CREATE_TARGET, {"tenantId": str(tenant.id), "input": target}, user=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert field in body["errors"][0]["extensions"]["fields"]


async def test_unknown_tenant_and_target_are_not_found(client, make_user) -> None:
    admin = await make_user(Role.ADMIN)
    unknown = "00000000-0000-0000-0000-000000000001"
    body = await graphql(
        client, CREATE_TARGET, {"tenantId": unknown, "input": {"url": "https://a.example/"}}, user=admin
    )
    assert error_codes(body) == ["NOT_FOUND"]
    assert error_codes(await graphql(client, DELETE, {"id": unknown}, user=admin)) == ["NOT_FOUND"]
    assert error_codes(await graphql(client, DELETE, {"id": "nope"}, user=admin)) == ["BAD_USER_INPUT"]


async def test_deleting_a_target_cancels_its_pending_deliveries(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver(always_fail=True)
    # A long backoff: after the first failure the delivery waits, pending.
    app = make_app(
        **LOOPBACK_ALLOWED, notification_backoff_seconds=60, notification_poll_seconds=0.02, redis_url=None
    )
    async with serve(receiver.app()) as receiver_url, running(app) as (http, state):
        created = await create_target(http, admin, tenant.id, url=f"{receiver_url}/hook")
        await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await eventually(lambda: scalar(engine, "SELECT attempts = 1 FROM notification_deliveries"))
        answer = await graphql(http, DELETE, {"id": created["target"]["id"]}, user=admin)
        assert answer["data"] == {"deleteNotificationTarget": True}
        listed = await graphql(http, TARGETS, {"tenantId": str(tenant.id)}, user=admin)
        assert listed["data"]["notificationTargets"] == []
        # Later events no longer reach it.
        await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await asyncio.sleep(0.3)
    assert await scalar(engine, "SELECT array_agg(status) FROM notification_deliveries") == ["cancelled"]
    assert len(receiver.requests) == 1
    # The history stays for the delivery log.
    assert await scalar(engine, "SELECT count(*) FROM notification_attempts") == 1
