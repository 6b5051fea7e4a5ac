"""Reading a request body with a size limit and a deadline, both enforced while reading, not after."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from domain.errors import BodyTooLarge, RequestTimeout


async def read_body(request: Request, *, limit: int, time_limit: float) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (a Content-Length may be absent or wrong)
    or when all of it has not arrived within `time_limit` seconds (a slow-loris sender)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(time_limit):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body is over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {time_limit:g} seconds") from None
    return b"".join(chunks)
