"""`POST /webhooks/dialpad`: every call event of the Dialpad company (one subscription), routed to its tenant."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import DomainError
from services.route_call_event import receive_company_event
from webhooks.bodies import read_body
from webhooks.dialpad import MAX_BODY_BYTES
from webhooks.responses import domain_error_response


async def dialpad_company_event(request: Request) -> Response:
    """Verify with the company secret, route and apply (or keep) one event; answers as the tenant endpoint
    does, plus `routed` (how its tenant was found) or `inbox` (why it was kept)."""
    try:
        body = await read_body(
            request, limit=MAX_BODY_BYTES, time_limit=request.state.settings.body_timeout_seconds
        )
        outcome = await receive_company_event(request.state.deps, body=body)
    except DomainError as error:
        return domain_error_response(error)
    applied = outcome.applied
    return JSONResponse(
        {
            "success": True,
            "duplicate": outcome.duplicate,
            "call_id": str(applied.call_id) if applied and applied.call_id else None,
            "status": applied.status.name if applied and applied.status else None,
            "routed": outcome.routed.value if outcome.routed else None,
            "inbox": outcome.inbox.value if outcome.inbox else None,
        }
    )


routes = [Route("/webhooks/dialpad", dialpad_company_event, methods=["POST"])]
