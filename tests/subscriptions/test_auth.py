"""Websocket authentication: the token in connection_init, rejection before any event, expiry."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import TEST_JWT_SECRET
from tests.subscriptions.support import (
    LEAD_CHANGED,
    LEGACY_WS,
    TRANSPORT_WS,
    Closed,
    Server,
    graphql_socket,
    write_lead,
)


def _token(subject: str, *, expires_in: float, secret: str = TEST_JWT_SECRET) -> str:
    return jwt.encode({"sub": subject, "exp": int(time.time() + expires_in)}, secret, algorithm="HS256")


async def test_missing_bad_expired_and_unknown_tokens_close_with_4403(server: Server, make_user) -> None:
    user = await make_user("admin")
    tokens = {
        "missing": None,
        "garbage": "not.a.jwt",
        "wrong key": _token(user.user.id, expires_in=60, secret="another-secret-" * 4),
        "expired": _token(user.user.id, expires_in=-120),
        "unknown user": _token("nobody", expires_in=60),
    }
    for label, token in tokens.items():
        async with graphql_socket(server.url, init=False) as socket:
            with pytest.raises(Closed) as closed:
                await socket.init(token)
            assert closed.value.code == 4403, label


async def test_legacy_protocol_rejects_with_connection_error_and_closes(server: Server) -> None:
    async with graphql_socket(server.url, protocol=LEGACY_WS, init=False) as socket:
        reply = await socket.init("not.a.jwt")
        assert reply["type"] == "connection_error"
        assert reply["payload"]["code"] == "UNAUTHENTICATED"
        with pytest.raises(Closed):
            await socket.receive()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_subscribing_without_connection_init_closes_4401_and_sends_nothing(
    server: Server, make_tenant, protocol: str
) -> None:
    tenant = await make_tenant()
    async with graphql_socket(server.url, protocol=protocol, init=False) as socket:
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await write_lead(server.deps, tenant.id)
        with pytest.raises(Closed) as closed:
            await socket.receive()
    assert closed.value.code == 4401


async def test_a_socket_is_closed_when_its_token_expires(server: Server, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    user = await make_user("admin")
    async with graphql_socket(server.url, _token(user.user.id, expires_in=2)) as socket:
        await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant.id)})
        await server.live(1)
        await write_lead(server.deps, tenant.id)
        assert (await socket.data("leads"))["leadChanged"]["cursor"] == 1
        started = time.monotonic()
        with pytest.raises(Closed) as closed:
            await socket.receive(within=6)
    assert closed.value.code == 4401
    assert closed.value.reason == "token expired"
    assert time.monotonic() - started < 4
