"""JSON answers for webhook routes: `{"error": {"code", "message", "fields"?}}` with a 4xx/5xx."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from domain.errors import DomainError


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def domain_error_response(error: DomainError) -> JSONResponse:
    """A domain error as its HTTP answer; outages tell the sender to retry."""
    headers = {"Retry-After": "5"} if error.http_status == 503 else None
    if error.http_status == 408:
        # A sender too slow to finish its body is not kept waiting on (a 413's sender, still
        # writing, would see the connection reset instead of its answer: uvicorn skips the rest).
        headers = {"Connection": "close"}
    return error_response(error.http_status, error.code, error.message, fields=error.fields, headers=headers)
