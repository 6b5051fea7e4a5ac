"""Request bodies are bounded in size and in time while they are read (issue 13, findings 3 and 7)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from tests.conftest import serve


async def test_a_graphql_body_over_the_limit_is_refused_while_reading(make_app) -> None:
    async with serve(make_app(graphql_max_body_bytes=4096)) as url, httpx.AsyncClient(base_url=url) as http:
        fits = await http.post("/graphql", json={"query": "{ __typename }", "variables": {"pad": "x" * 3000}})
        assert fits.json() == {"data": {"__typename": "Query"}}
        declared = await http.post("/graphql", content=b"{" + b" " * 5000 + b"}")
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        # Chunked, no Content-Length: only counting while reading can stop it.
        answer, sent = await _endless_chunked_post(url, "/graphql")
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        assert b"PAYLOAD_TOO_LARGE" in answer
        assert sent < 5 * 1024 * 1024, "the server read far past its limit"


async def _endless_chunked_post(url: str, path: str) -> tuple[bytes, int]:
    """Send a chunked body until the server answers (at most 50 MiB): the answer and bytes sent."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    sent = 0
    answer = asyncio.ensure_future(reader.read(65536))
    try:
        while not answer.done() and sent < 50 * 1024 * 1024:
            writer.write(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
            sent += 0x10000
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(0)
        return await asyncio.wait_for(answer, timeout=10), sent
    finally:
        writer.close()


async def test_the_default_graphql_limit_is_one_mib(live_server) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post("/graphql", content=b" " * (1024 * 1024 + 1))
    assert response.status_code == 413


async def _slow_post(url: str, path: str, *, declared: int, sent: bytes) -> tuple[bytes, float]:
    """Send the headers and part of the body, then nothing: the answer and how long it took."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), timeout=10)
    elapsed = time.monotonic() - started
    writer.close()
    return answer, elapsed


async def test_a_body_that_does_not_arrive_in_time_gets_408(make_app, make_tenant) -> None:
    tenant = await make_tenant()
    async with serve(make_app(body_timeout_seconds=1.0)) as url:
        for path in ("/graphql", tenant.lead_url, f"/webhooks/dialpad/{tenant.tenant.slug}"):
            answer, elapsed = await _slow_post(url, path, declared=200, sent=b'{"query": ')
            assert answer.startswith(b"HTTP/1.1 408 "), (path, answer)
            assert b"REQUEST_TIMEOUT" in answer
            assert b"connection: close" in answer.lower()
            assert 0.9 < elapsed < 3.0, (path, elapsed)
