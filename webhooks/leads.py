"""`POST /webhooks/lead/{token}`: read the body (64 KiB at most), parse it, ingest the lead, answer JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import DomainError
from domain.lead_intake import parse_lead
from services.ingest_lead import ingest_lead
from webhooks.bodies import read_body
from webhooks.lead_bodies import MAX_BODY_BYTES, decode_body
from webhooks.responses import domain_error_response


async def receive_lead(request: Request) -> Response:
    """201 with the new lead's ids, 200 with `duplicate` true on a repeat, or a JSON error."""
    try:
        body = await read_body(
            request, limit=MAX_BODY_BYTES, time_limit=request.state.settings.body_timeout_seconds
        )
        payload = decode_body(request.headers.get("content-type"), body)
        result = await ingest_lead(
            request.state.deps,
            token=request.path_params["token"],
            lead=parse_lead(payload),
            raw_data=payload,
            idempotency_key=request.headers.get("idempotency-key"),
        )
    except DomainError as error:
        return domain_error_response(error)
    return JSONResponse(
        {
            "success": True,
            "lead_id": str(result.lead_id),
            "contact_id": str(result.contact_id),
            "duplicate": result.duplicate,
        },
        status_code=200 if result.duplicate else 201,
    )
