"""Webhook notifications: signed, queued in PostgreSQL, retried with backoff, every attempt logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from domain.events import EventType
from domain.notifications import verify_signature
from domain.roles import Role
from tests.conftest import error_codes, graphql, serve
from tests.notifications.support import DELIVERIES, LOOPBACK_ALLOWED, Receiver, create_target, running
from tests.support_leads import eventually, insert_lead, record_event, scalar

BASE = 0.1


async def test_a_target_failing_three_times_gets_one_success_and_three_logged_failures(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver(fail_first=3)
    app = make_app(
        **LOOPBACK_ALLOWED, notification_backoff_seconds=BASE, notification_poll_seconds=0.02, redis_url=None
    )
    async with serve(receiver.app()) as receiver_url, running(app) as (http, state):
        created = await create_target(http, admin, tenant.id, url=f"{receiver_url}/hook")
        receiver.secret = created["secret"]
        assert len(created["secret"]) >= 40
        assert created["target"]["events"] == ["BOOKED", "NEW_LEAD", "SLA_BREACHED"]

        lead = await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await state["relay"].flush()

        await eventually(
            lambda: scalar(engine, "SELECT status = 'delivered' FROM notification_deliveries"), within=15
        )
        await asyncio.sleep(0.5)  # nothing more may arrive after the success

        assert [request.answered for request in receiver.requests] == [500, 500, 500, 200]
        assert all(request.signature_valid for request in receiver.requests)
        # The documented recipe, independently of our verifier: hex HMAC-SHA256 of "<timestamp>.<body>".
        for request in receiver.requests:
            signed = request.headers["x-calltrax-timestamp"].encode() + b"." + request.body
            expected = hmac.new(created["secret"].encode(), signed, hashlib.sha256).hexdigest()
            assert request.headers["x-calltrax-signature"] == f"sha256={expected}"
        # Every retry carries the same document; the receiver dedupes on its id.
        assert len({request.body for request in receiver.requests}) == 1
        document = receiver.requests[0].document
        assert document["kind"] == "new_lead"
        assert document["lead"]["id"] == lead["id"]
        assert document["tenant"]["id"] == str(tenant.id)
        assert document["event"] == {
            "seq": 1,
            "type": "LEAD_CREATED",
            "occurred_at": document["event"]["occurred_at"],
        }
        assert receiver.requests[0].headers["x-calltrax-delivery"] == str(document["id"])
        # Capped exponential backoff with equal jitter: never sooner than half the step.
        gaps = [
            (b.at - a.at).total_seconds()
            for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)
        ]
        for failures, gap in enumerate(gaps, start=1):
            assert gap >= BASE * 2 ** (failures - 1) / 2, gaps

        answer = await graphql(http, DELIVERIES, {"tenantId": str(tenant.id), "first": 10}, user=admin)
        assert "errors" not in answer, answer
        connection = answer["data"]["notificationDeliveries"]
        assert connection["totalCount"] == 1
        [edge] = connection["edges"]
        node = edge["node"]
        assert node["status"] == "DELIVERED"
        assert node["channel"] == "WEBHOOK"
        assert node["event"] == "NEW_LEAD"
        assert node["leadId"] == lead["id"]
        assert node["attemptCount"] == 4
        assert node["lastStatusCode"] == 200
        assert [(a["attempt"], a["ok"], a["statusCode"]) for a in node["attempts"]] == [
            (1, False, 500),
            (2, False, 500),
            (3, False, 500),
            (4, True, 200),
        ]
        assert all(a["durationMs"] >= 0 for a in node["attempts"])
        assert [a["error"] for a in node["attempts"]] == ["HTTP 500", "HTTP 500", "HTTP 500", None]

        for user in (
            await make_user(Role.AGENT, tenants=[tenant.id]),
            await make_user(Role.CLIENT, tenant=tenant.id),
        ):
            denied = await graphql(http, DELIVERIES, {"tenantId": str(tenant.id)}, user=user)
            assert error_codes(denied) == ["FORBIDDEN"]
            assert denied["data"] is None
        anonymous = await graphql(http, DELIVERIES, {"tenantId": str(tenant.id)})
        assert error_codes(anonymous) == ["UNAUTHENTICATED"]

    assert await scalar(engine, "SELECT count(*) FROM notification_attempts") == 4
    assert await scalar(engine, "SELECT count(*) FROM notification_attempts WHERE NOT ok") == 3


async def test_an_unreachable_target_logs_a_generic_failure(make_app, make_tenant, make_user, engine) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    app = make_app(
        **LOOPBACK_ALLOWED, notification_backoff_seconds=BASE, notification_poll_seconds=0.02, redis_url=None
    )
    async with running(app) as (http, state):
        # A port nobody listens on.
        await create_target(http, admin, tenant.id, url="http://127.0.0.1:9/hook")
        await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await eventually(lambda: scalar(engine, "SELECT count(*) >= 2 FROM notification_attempts"))
    assert await scalar(engine, "SELECT bool_and(NOT ok AND status_code IS NULL) FROM notification_attempts")
    # Not the connection error itself: the log admins read must not map ports (see test_destinations).
    assert await scalar(engine, "SELECT array_agg(DISTINCT error) FROM notification_attempts") == [
        "delivery failed"
    ]
    assert await scalar(engine, "SELECT status FROM notification_deliveries") == "pending"


async def test_only_new_leads_breaches_and_bookings_notify_and_targets_choose(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    everything, bookings = Receiver(), Receiver()
    app = make_app(**LOOPBACK_ALLOWED, notification_poll_seconds=0.02, redis_url=None)
    async with (
        serve(everything.app()) as everything_url,
        serve(bookings.app()) as bookings_url,
        running(app) as (http, state),
    ):
        everything.secret = (await create_target(http, admin, tenant.id, url=f"{everything_url}/hook"))[
            "secret"
        ]
        bookings.secret = (
            await create_target(http, admin, tenant.id, url=f"{bookings_url}/hook", events=["BOOKED"])
        )["secret"]
        lead = await insert_lead(engine, tenant.id, record_created=True)
        contacted = {**lead, "status": "contacted"}
        booked = {**lead, "status": "booked"}
        await record_event(
            engine,
            tenant.id,
            EventType.LEAD_UPDATED,
            {"lead": contacted, "contact": {}, "changes": ["status"]},
        )
        await record_event(engine, tenant.id, EventType.CALL_UPDATED, {"call": {"id": "c1"}, "kind": "ENDED"})
        # A change to something else while booked is no new booking.
        await record_event(
            engine, tenant.id, EventType.LEAD_UPDATED, {"lead": booked, "contact": {}, "changes": ["status"]}
        )
        await record_event(
            engine, tenant.id, EventType.LEAD_UPDATED, {"lead": booked, "contact": {}, "changes": ["notes"]}
        )
        await record_event(
            engine,
            tenant.id,
            EventType.SLA_BREACHED,
            {"lead": lead, "contact": {}, "changes": ["sla_breached_at"]},
        )
        state["relay"].committed([tenant.id])

        await eventually(lambda: _count(everything, 3))
        await eventually(lambda: _count(bookings, 1))
        await asyncio.sleep(0.3)

    # Due deliveries are sent concurrently: they may arrive in any order (none is promised).
    received = sorted(everything.requests, key=lambda r: r.document["event"]["seq"])
    assert [r.document["kind"] for r in received] == ["new_lead", "booked", "sla_breached"]
    assert [r.document["event"]["seq"] for r in received] == [1, 4, 6]
    assert [r.document["kind"] for r in bookings.requests] == ["booked"]
    assert all(r.signature_valid for r in everything.requests + bookings.requests)
    # Each target signs with its own secret.
    assert received[1].headers["x-calltrax-signature"] != bookings.requests[0].headers["x-calltrax-signature"]


async def _count(receiver: Receiver, expected: int) -> bool:
    return len(receiver.requests) >= expected


async def test_events_written_while_no_server_runs_are_notified_after_the_restart_once(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver()
    async with serve(receiver.app()) as receiver_url:
        async with running(make_app(**LOOPBACK_ALLOWED, notification_poll_seconds=0.02, redis_url=None)) as (
            http,
            state,
        ):
            receiver.secret = (await create_target(http, admin, tenant.id, url=f"{receiver_url}/hook"))[
                "secret"
            ]
            await insert_lead(engine, tenant.id, record_created=True)
            state["relay"].committed([tenant.id])
            await eventually(lambda: _count(receiver, 1))
        # The server is down: a lead arrives (say through another replica that died before numbering it).
        await insert_lead(engine, tenant.id, record_created=True)
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 1
        async with running(make_app(**LOOPBACK_ALLOWED, notification_poll_seconds=0.02, redis_url=None)):
            # No one calls committed(): the relay's sweep numbers it, the dispatcher resumes from its cursor.
            await eventually(lambda: _count(receiver, 2))
            await asyncio.sleep(0.3)
    assert [r.document["event"]["seq"] for r in receiver.requests] == [1, 2]
    assert await scalar(engine, "SELECT count(*) FROM notification_deliveries") == 2
    assert (
        await scalar(engine, "SELECT last_seq FROM notification_cursors WHERE tenant_id = :t", t=tenant.id)
        == 2
    )


async def test_a_target_hears_nothing_from_before_it_existed(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver()
    # A lead recorded before the target exists; the dispatcher has not seen it yet (no server).
    await insert_lead(engine, tenant.id, record_created=True)
    async with (
        serve(receiver.app()) as receiver_url,
        running(make_app(**LOOPBACK_ALLOWED, notification_poll_seconds=0.02, redis_url=None)) as (
            http,
            state,
        ),
    ):
        await asyncio.sleep(0.05)
        receiver.secret = (await create_target(http, admin, tenant.id, url=f"{receiver_url}/hook"))["secret"]
        await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await eventually(lambda: _count(receiver, 1))
        await asyncio.sleep(0.3)
    assert [r.document["event"]["seq"] for r in receiver.requests] == [2]


async def test_two_app_instances_on_one_database_send_each_notification_once(
    make_app, make_tenant, make_user, engine
) -> None:
    tenants = [await make_tenant() for _ in range(2)]
    admin = await make_user(Role.ADMIN)
    receiver = Receiver(fail_first=5)
    settings = {
        **LOOPBACK_ALLOWED,
        "notification_backoff_seconds": 0.05,
        "notification_poll_seconds": 0.02,
        "redis_url": None,
    }
    async with (
        serve(receiver.app()) as receiver_url,
        running(make_app(**settings)) as (http, first),
        running(make_app(**settings)) as (_, second),
    ):
        for tenant in tenants:
            receiver.secret = (await create_target(http, admin, tenant.id, url=f"{receiver_url}/hook"))[
                "secret"
            ]
        # The same secret for both tenants' targets is not a thing: check signatures per tenant below.
        secrets = {
            str(tenant.id): await scalar(
                engine, "SELECT secret FROM notification_targets WHERE tenant_id = :t", t=tenant.id
            )
            for tenant in tenants
        }
        for n in range(40):
            tenant = tenants[n % 2]
            await insert_lead(engine, tenant.id, record_created=True)
            (first if n % 4 < 2 else second)["relay"].committed([tenant.id])
        await eventually(
            lambda: scalar(
                engine, "SELECT count(*) = 40 FROM notification_deliveries WHERE status = 'delivered'"
            ),
            within=20,
        )
        await asyncio.sleep(0.3)

    successes = [r for r in receiver.requests if r.answered == 200]
    assert len(successes) == 40
    assert len({(r.document["tenant"]["id"], r.document["event"]["seq"]) for r in successes}) == 40
    assert len(receiver.requests) == 45
    for request in receiver.requests:
        stamp = request.headers["x-calltrax-timestamp"]
        secret = secrets[request.document["tenant"]["id"]]
        assert verify_signature(
            secret,
            timestamp=stamp,
            body=request.body,
            signature=request.headers["x-calltrax-signature"],
            now=request.at,
        )
    assert await scalar(engine, "SELECT count(*) FROM notification_attempts") == 45
