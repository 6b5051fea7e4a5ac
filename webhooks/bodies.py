"""Reading a webhook's body with a size limit enforced while reading, not after."""

from __future__ import annotations

from starlette.requests import Request

from domain.errors import BodyTooLarge


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (a Content-Length may be absent or wrong)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
