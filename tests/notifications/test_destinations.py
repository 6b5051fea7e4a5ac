"""Notification targets cannot reach internal addresses (issue 13, finding 4): refused when created, refused
again on the resolved address when sending, and the delivery log does not tell one port from another."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from calltrax.app import create_app
from calltrax.settings import Settings
from domain.ports import Clock
from domain.roles import Role
from services.notifications import LEASE
from tests.conftest import AppFactory, error_codes, free_port, graphql, serve
from tests.notifications.support import (
    CREATE_TARGET,
    DELIVERIES,
    LOOPBACK_ALLOWED,
    Receiver,
    create_target,
    running,
)
from tests.support_leads import MovableClock, eventually, insert_lead, scalar

# Retries stay 0.05-0.2 s apart however many were refused before: the wait for the next attempt never
# depends on how long the machine took to get there (doubling alone reached 10 s after 8 refusals).
FAST = {
    "notification_backoff_seconds": 0.05,
    "notification_backoff_cap_seconds": 0.2,
    "notification_poll_seconds": 0.02,
    "redis_url": None,
}


class FakeDns:
    """The notifier's resolver, injected through the composition root: names answer what the test says."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError(f"no such name: {host}")
        return self.names[host]


@contextlib.asynccontextmanager
async def graphql_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        yield http


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://localhost:5432/",
        "http://[::1]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0:8000/",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1:6379/",
        "https://LOCALHOST./hook",
        "http://api.localhost/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:a00:1::]/",
        "http://224.0.0.1/",
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width digits
        "http://user:pw@hooks.example.com/",
        "http://hooks.example.com@127.0.0.1/",
        "gopher://hooks.example.com/",
        "http://hooks.example.com:99999/",
        "http://256.0.0.1/",
    ],
)
async def test_internal_destinations_are_refused_when_the_target_is_created(
    live_server, make_tenant, make_user, engine, url
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    async with graphql_client(live_server) as http:
        body = await graphql(
            http, CREATE_TARGET, {"tenantId": str(tenant.id), "input": {"url": url}}, user=admin
        )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["data"] is None
    problem = body["errors"][0]["extensions"]["fields"]["url"]
    assert problem == body["errors"][0]["message"]
    assert await scalar(engine, "SELECT count(*) FROM notification_targets") == 0


async def test_the_refusal_names_the_problem(live_server, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    expected = {
        "http://10.0.0.1/": "10.0.0.1 is not a public address (private)",
        "http://localhost:5432/": "localhost is not a public address (loopback)",
        "http://2130706433/": "2130706433 is not a public address (loopback)",
        "http://[::ffff:127.0.0.1]/": "::ffff:127.0.0.1 is not a public address (loopback)",
        "http://metadata.google.internal/": "metadata.google.internal is a cloud metadata endpoint",
        "http://169.254.169.254/": "169.254.169.254 is a cloud metadata endpoint",
        "http://0.0.0.0/": "0.0.0.0 is not an address a notification can go to (unspecified)",
        "http://a:b@hooks.example.com/": "a user name or password in the URL is not allowed",
    }
    async with graphql_client(live_server) as http:
        for url, message in expected.items():
            body = await graphql(
                http, CREATE_TARGET, {"tenantId": str(tenant.id), "input": {"url": url}}, user=admin
            )
            assert body["errors"][0]["message"].startswith(message), (url, body)


async def test_public_addresses_and_names_are_accepted(live_server, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    async with graphql_client(live_server) as http:
        for url in (
            "https://hooks.example.com/calltrax",
            "http://93.184.215.14:8080/hook",
            "https://[2606:4700:4700::1111]/hook",
            "https://bücher.example/hook",
        ):
            created = await create_target(http, admin, tenant.id, url=url)
            assert created["target"]["url"] == url


async def test_operators_open_internal_destinations_explicitly(
    make_app: AppFactory, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)

    async def outcome(app: Any, url: str) -> list[str]:
        async with serve(app) as base_url, graphql_client(base_url) as http:
            body = await graphql(
                http, CREATE_TARGET, {"tenantId": str(tenant.id), "input": {"url": url}}, user=admin
            )
        return error_codes(body)

    private = make_app(notify_allow_private=True)
    assert await outcome(private, "http://10.1.2.3/hook") == []
    assert await outcome(private, "http://localhost:8080/hook") == []
    # "Private" does not open the metadata endpoints, nor the never-valid addresses.
    assert await outcome(private, "http://169.254.169.254/") == ["BAD_USER_INPUT"]
    assert await outcome(private, "http://metadata.google.internal/") == ["BAD_USER_INPUT"]
    assert await outcome(private, "http://0.0.0.0/") == ["BAD_USER_INPUT"]

    listed = make_app(notify_allowed_networks=(ip_network("10.20.0.0/16"),))
    assert await outcome(listed, "http://10.20.30.40/hook") == []
    assert await outcome(listed, "http://10.21.0.1/hook") == ["BAD_USER_INPUT"]
    assert await outcome(listed, "http://127.0.0.1/hook") == ["BAD_USER_INPUT"]


def _app(settings: Settings, dns: FakeDns, clock: Clock | None = None, **overrides: Any) -> Any:
    return create_app(replace(settings, **{**FAST, **overrides}), resolver=dns, clock=clock)


async def _attempt_errors(http: httpx.AsyncClient, admin: Any, tenant_id: Any) -> dict[str, list[Any]]:
    """Each target's attempts as the delivery log shows them to admins: (status code, error)."""
    body = await graphql(http, DELIVERIES, {"tenantId": str(tenant_id), "first": 50}, user=admin)
    assert "errors" not in body, body
    found: dict[str, list[Any]] = {}
    for edge in body["data"]["notificationDeliveries"]["edges"]:
        node = edge["node"]
        found.setdefault(node["targetId"], []).extend(
            (attempt["statusCode"], attempt["error"]) for attempt in node["attempts"]
        )
        assert node["lastError"] == node["attempts"][-1]["error"]
    return found


async def test_a_name_that_resolves_to_loopback_when_sending_is_refused_with_nothing_sent(
    settings: Settings, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver()
    # Public-looking names, accepted when created; when sending, DNS answers loopback (rebinding), or a
    # public address together with loopback: any refused address refuses the name.
    dns = FakeDns({"hooks.rebind.test": ["127.0.0.1"], "mixed.rebind.test": ["93.184.215.14", "127.0.0.1"]})
    async with serve(receiver.app()) as receiver_url:
        port = httpx.URL(receiver_url).port
        async with running(_app(settings, dns)) as (http, state):
            rebound = await create_target(http, admin, tenant.id, url=f"http://hooks.rebind.test:{port}/hook")
            mixed = await create_target(http, admin, tenant.id, url=f"http://mixed.rebind.test:{port}/hook")
            await insert_lead(engine, tenant.id, record_created=True)
            state["relay"].committed([tenant.id])
            await eventually(
                lambda: scalar(engine, "SELECT count(*) >= 4 FROM notification_attempts"), within=10
            )
            log = await _attempt_errors(http, admin, tenant.id)
        assert receiver.requests == []
        assert dns.asked.count("hooks.rebind.test") >= 2
        for target in (rebound, mixed):
            attempts = log[target["target"]["id"]]
            assert len(attempts) >= 2
            assert set(attempts) == {(None, "destination not allowed")}
        assert await scalar(engine, "SELECT bool_and(status = 'pending') FROM notification_deliveries")

        # The control: the operator opens loopback, and the same name now delivers (the deliveries
        # refused above too, as they are retried), to the address the resolver gave, with the Host
        # header still naming the host.
        # Its clock runs past the lease on any delivery the first server was sending when it stopped
        # (a lease the first server never released would otherwise hold that delivery for 2 minutes).
        later = MovableClock()
        later.offset = LEASE
        async with running(_app(settings, dns, later, **LOOPBACK_ALLOWED)) as (http, state):
            await eventually(lambda: _received_from(receiver, f"hooks.rebind.test:{port}"), within=10)
    assert receiver.requests[0].document["kind"] == "new_lead"


async def _received_from(receiver: Receiver, host: str) -> bool:
    return any(request.headers["host"] == host for request in receiver.requests)


@contextlib.asynccontextmanager
async def tcp_server(reply: bytes | None) -> AsyncIterator[int]:
    """A port that accepts connections and answers `reply` (None: closes at once without a word)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_the_delivery_log_does_not_tell_ports_apart(
    settings: Settings, make_tenant, make_user, engine, caplog
) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    receiver = Receiver()
    dns = FakeDns({"internal.example.test": ["10.0.0.7"]})
    caplog.set_level(logging.WARNING, logger="calltrax.notifications")
    async with (
        serve(receiver.app()) as receiver_url,
        tcp_server(None) as closing_port,
        tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n") as ssh_port,
    ):
        http_port = httpx.URL(receiver_url).port
        urls = {
            "closed": f"http://127.0.0.1:{free_port()}/hook",
            "closes at once": f"http://127.0.0.1:{closing_port}/hook",
            "another protocol": f"http://127.0.0.1:{ssh_port}/hook",
            "TLS to a plain port": f"https://127.0.0.1:{http_port}/hook",
            "no such name": "http://nowhere.example.test/hook",
        }
        # Its clock runs past the lease on any delivery the first server was sending when it stopped
        # (a lease the first server never released would otherwise hold that delivery for 2 minutes).
        later = MovableClock()
        later.offset = LEASE
        async with running(_app(settings, dns, later, **LOOPBACK_ALLOWED)) as (http, state):
            targets = {
                case: (await create_target(http, admin, tenant.id, url=url))["target"]["id"]
                for case, url in urls.items()
            }
            blocked = (
                await create_target(http, admin, tenant.id, url="http://internal.example.test:22/hook")
            )["target"]["id"]
            await insert_lead(engine, tenant.id, record_created=True)
            state["relay"].committed([tenant.id])
            await eventually(
                lambda: scalar(
                    engine,
                    "SELECT count(DISTINCT d.target_id) = 6 AND min(d.attempts) >= 2"
                    " FROM notification_deliveries AS d JOIN notification_attempts AS a ON a.delivery_id = d.id",
                ),
                within=15,
            )
            log = await _attempt_errors(http, admin, tenant.id)
    for case, target_id in targets.items():
        assert set(log[target_id]) == {(None, "delivery failed")}, (case, log[target_id])
    assert set(log[blocked]) == {(None, "destination not allowed")}
    assert receiver.requests == []
    # The detail is in the server log, for the operator.
    server_log = "\n".join(record.getMessage() for record in caplog.records)
    assert "ConnectError" in server_log
    assert "10.0.0.7 (private)" in server_log
