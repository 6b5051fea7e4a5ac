"""Email notifications go out over SMTP (aiosmtplib) and reach a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from domain.events import EventType
from domain.roles import Role
from tests.conftest import free_port
from tests.notifications.support import create_target, running
from tests.support_leads import eventually, insert_lead, record_event, scalar

SENDER = "CallTrax <alerts@calltrax.example>"


class Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def message(self, index: int) -> Message:
        return message_from_bytes(self.envelopes[index].content)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_new_lead_and_booking_emails_reach_the_smtp_server(
    smtp_server, make_app, make_tenant, make_user, engine
) -> None:
    inbox, port = smtp_server
    tenant = await make_tenant(name="Sunny Dental")
    admin = await make_user(Role.ADMIN)
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from=SENDER,
        smtp_tls="none",
        notification_poll_seconds=0.02,
        redis_url=None,
    )
    async with running(app) as (http, state):
        created = await create_target(
            http,
            admin,
            tenant.id,
            emails=["Ops@Example.com", " owner@example.com "],
            events=["NEW_LEAD", "BOOKED"],
        )
        # Email-only targets sign nothing, so there is no secret to show.
        assert created["secret"] is None
        assert created["target"]["emails"] == ["ops@example.com", "owner@example.com"]
        assert created["target"]["url"] is None

        lead = await insert_lead(
            engine, tenant.id, name="Grace Hopper", email="grace@example.com", record_created=True
        )
        await record_event(
            engine,
            tenant.id,
            EventType.LEAD_UPDATED,
            {
                "lead": {**lead, "status": "booked"},
                "contact": {"name": "Grace Hopper"},
                "changes": ["status"],
            },
        )
        state["relay"].committed([tenant.id])
        await eventually(lambda: _received(inbox, 2))
        await asyncio.sleep(0.3)

    assert len(inbox.envelopes) == 2
    for envelope in inbox.envelopes:
        assert envelope.mail_from == "alerts@calltrax.example"
        assert envelope.rcpt_tos == ["ops@example.com", "owner@example.com"]
    # The sender delivers due notifications concurrently: the arrival order is not the events' order.
    new_lead, booked = sorted(
        (inbox.message(0), inbox.message(1)), key=lambda message: "booked" in str(message["Subject"])
    )
    assert new_lead["Subject"] == "[CallTrax] New lead: Grace Hopper (Sunny Dental)"
    assert new_lead["From"] == SENDER
    assert new_lead["To"] == "ops@example.com, owner@example.com"
    text = new_lead.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "grace@example.com" in text
    assert lead["id"] in text
    assert booked["Subject"] == "[CallTrax] Lead booked: Grace Hopper (Sunny Dental)"
    assert (
        await scalar(engine, "SELECT count(*) FROM notification_attempts WHERE ok AND status_code IS NULL")
        == 2
    )
    assert await scalar(engine, "SELECT array_agg(DISTINCT channel) FROM notification_deliveries") == [
        "email"
    ]


async def test_an_smtp_server_that_is_down_is_logged_and_retried(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_from=SENDER,
        smtp_tls="none",
        notification_backoff_seconds=0.05,
        notification_poll_seconds=0.02,
        redis_url=None,
    )
    async with running(app) as (http, state):
        await create_target(http, admin, tenant.id, emails=["ops@example.com"])
        await insert_lead(engine, tenant.id, record_created=True)
        state["relay"].committed([tenant.id])
        await eventually(lambda: scalar(engine, "SELECT count(*) >= 2 FROM notification_attempts"))
    assert await scalar(engine, "SELECT bool_and(NOT ok AND error IS NOT NULL) FROM notification_attempts")
    assert await scalar(engine, "SELECT status FROM notification_deliveries") == "pending"


async def _received(inbox: Inbox, expected: int) -> bool:
    return len(inbox.envelopes) >= expected
