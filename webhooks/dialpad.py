"""`POST /webhooks/dialpad/{tenant_slug}`: Dialpad call events (a JWT body), answered 200 fast."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import DomainError
from services.apply_call_event import apply_call_event
from webhooks.bodies import read_body
from webhooks.responses import domain_error_response

# A call event is a few KB; anything far larger is not one.
MAX_BODY_BYTES = 256 * 1024


async def dialpad_event(request: Request) -> Response:
    """Verify and apply one event; 4xx tells Dialpad not to retry, 503 asks it to."""
    try:
        body = await read_body(
            request, limit=MAX_BODY_BYTES, time_limit=request.state.settings.body_timeout_seconds
        )  # raw bytes whatever the Content-Type
        outcome = await apply_call_event(
            request.state.deps, tenant_slug=request.path_params["tenant_slug"], body=body
        )
    except DomainError as error:
        return domain_error_response(error)
    return JSONResponse(
        {
            "success": True,
            "duplicate": outcome.duplicate,
            "call_id": str(outcome.call_id) if outcome.call_id else None,
            "status": outcome.status.name if outcome.status else None,
        }
    )


routes = [Route("/webhooks/dialpad/{tenant_slug}", dialpad_event, methods=["POST"])]
