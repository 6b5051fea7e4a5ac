"""Websockets are bounded per user, per address and in message size (issue 13, finding 7)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from calltrax.cli import server_limits
from tests.conftest import serve
from tests.subscriptions.support import LEGACY_WS, TRANSPORT_WS, Closed, GraphQLSocket, graphql_socket


async def _init_until_closed(socket: GraphQLSocket, token: str) -> None:
    await socket.init(token)  # graphql-ws answers connection_error first, then closes
    await socket.receive()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_user_past_their_socket_cap_is_closed_with_4429(make_app, make_user, protocol) -> None:
    agent = await make_user("admin")
    async with serve(make_app(ws_max_per_user=3)) as url, contextlib.AsyncExitStack() as stack:
        held = [
            await stack.enter_async_context(graphql_socket(url, agent.token, protocol=protocol))
            for _ in range(3)
        ]
        async with graphql_socket(url, init=False, protocol=protocol) as extra:
            with pytest.raises(Closed) as closed:
                await _init_until_closed(extra, agent.token)
        assert closed.value.code == 4429
        # Another user is not affected, and a closed socket frees its place.
        other = await make_user("admin")
        async with graphql_socket(url, other.token, protocol=protocol):
            pass
        await held[0].ws.close()
        for _ in range(100):
            try:
                async with graphql_socket(url, agent.token, protocol=protocol):
                    break
            except (Closed, AssertionError):
                await asyncio.sleep(0.02)
        else:
            raise AssertionError("a closed socket did not free its place")


async def test_sockets_per_address_are_capped_until_a_user_signs_in(make_app, make_user) -> None:
    admin = await make_user("admin")
    async with serve(make_app(ws_max_per_address=3)) as url, contextlib.AsyncExitStack() as stack:
        # Three sockets that never log in (or show a public dashboard) fill the address.
        anonymous = [await stack.enter_async_context(graphql_socket(url, init=False)) for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            async with graphql_socket(url, init=False):
                pass
        assert refused.value.response.status_code == 429
        assert b"TOO_MANY_CONNECTIONS" in refused.value.response.body
        # One signs in: it counts against its user now, and the address has room again.
        ack = await anonymous[0].init(admin.token)
        assert ack["type"] == "connection_ack"
        async with graphql_socket(url, admin.token):
            pass


async def test_a_websocket_message_over_the_limit_closes_the_socket(make_app, settings, make_user) -> None:
    admin = await make_user("admin")
    limited = replace(settings, ws_max_message_bytes=1024)
    async with serve(make_app(ws_max_message_bytes=1024), **server_limits(limited)) as url:
        async with graphql_socket(url, admin.token) as socket:
            await socket.ws.send('{"type": "ping", "payload": {"pad": "' + "x" * 2000 + '"}}')
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.ws.recv(), timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big
        async with graphql_socket(url, admin.token) as socket:
            await socket.send({"type": "ping", "payload": {"pad": "x" * 500}})
            assert (await socket.receive())["type"] == "pong"


async def test_connections_past_the_process_cap_get_503(make_app, settings) -> None:
    capped = replace(settings, max_connections=4)
    async with serve(make_app(), **server_limits(capped)) as url:
        host, port = url.removeprefix("http://").split(":")
        idle = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
        await asyncio.sleep(0.1)

        async def health() -> int:
            async with httpx.AsyncClient(base_url=url) as http:
                return (await http.get("/healthz")).status_code

        # Three idle connections (a slow-loris sends nothing) and this request fill the cap.
        assert await health() == 503
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.1)
        assert await health() == 200
