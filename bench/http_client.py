"""A minimal keep-alive HTTP/1.1 client for load generators: it should cost the server's CPU, not ours.

httpx spends a few hundred microseconds of CPU per request; on a 2-core machine that is CPU the
server under test does not get. This client writes pre-built requests on one connection and
reads status, headers and a Content-Length body, which is all our JSON endpoints answer with."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 we can read."""


class KeepAliveClient:
    def __init__(
        self, base_url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._host_header = f"Host: {self._host}:{self._port}\r\n{extra}".encode()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self._reader, self._writer

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        """POST `body`; returns (status, response body). Reconnects once if the server closed the socket."""
        head = (
            f"POST {path} HTTP/1.1\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
            + self._host_header
            + b"\r\n"
        )
        try:
            return await asyncio.wait_for(self._exchange(head + body), timeout=self._timeout)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError) as error:
            await self.close()
            raise HttpError(type(error).__name__) from error

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = await self._connect()
        writer.write(request)
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"not an HTTP answer: {status_line[:40]!r}")
        status = int(parts[1])
        length = 0
        chunked = False
        closing = False
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value.strip())
            elif lowered == b"connection" and value.strip().lower() == b"close":
                closing = True
            elif lowered == b"transfer-encoding" and value.strip().lower() == b"chunked":
                chunked = True
        body = await self._chunks(reader) if chunked else await reader.readexactly(length) if length else b""
        if closing:
            await self.close()
        return status, body

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        """A chunked body (Node servers answer so): size lines, chunks, a zero chunk and its CRLF."""
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return body
            body += await reader.readexactly(size + 2)
            body = body[:-2]

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
