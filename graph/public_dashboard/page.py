"""`GET /dashboard/{token}`: the public dashboard page, one self-contained HTML file (inline CSS and
JS, no build step, nothing fetched from elsewhere) that follows `publicDashboardChanged` live.

The page carries its first figures: the server runs `publicDashboard` with the same selection the
page subscribes with and writes the answer into the page, so the figures are drawn at once, before
the websocket answers (or if it never does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from domain.errors import NotFound
from graph.context import Context
from graph.schema import schema
from services.public_dashboard import open_public_link

PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
DATA_PLACEHOLDER = "__DASHBOARD_DATA__"
# What the page draws: its first figures are read with it, and its subscription asks for the same.
FIGURES = """title timezone asOf
    pipeline { stage title count }
    metrics {
      from to leads
      speedToLead { medianSeconds averageSeconds p90Seconds attemptedLeads unattemptedLeads withinSla breached slaSeconds }
      connectionRate { numerator denominator value }
      bookingRate { numerator denominator value }
      leadResponseRate { numerator denominator value }
      contactedWithinSla { numerator denominator value }
      missedCalls { total calledBack { numerator denominator value } callbackMedianSeconds }
      trend { day leads calls connected booked }
    }"""
FIRST_FIGURES = "query ($token: String!) { publicDashboard(token: $token) { " + FIGURES + " } }"

GONE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Dashboard not found</title>
<body style="font-family:system-ui,sans-serif;margin:4rem;color:#333"><h1>Dashboard not found</h1>
<p>This link is unknown or has been revoked. Ask whoever shared it for a new one.</p></body></html>"""

HEADERS = {
    # The page runs only its own inline code and talks only to this server (its websocket).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    # The token in the URL is the secret: never send it on as a referrer, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


async def dashboard_page(request: Request) -> Response:
    try:
        await open_public_link(request.state.api_deps, token=request.path_params["token"])
    except NotFound:
        return HTMLResponse(GONE, status_code=404, headers=HEADERS)
    # The page reads its token from its own URL; what is written into it is the server's own answer.
    return HTMLResponse(
        PAGE.replace(DATA_PLACEHOLDER, _page_data(await _first_figures(request))), headers=HEADERS
    )


async def _first_figures(request: Request) -> dict[str, Any] | None:
    """The figures now, as the subscription would send them; None if they cannot be read (the page
    then waits for the websocket, as it would anyway)."""
    result = await schema.execute(
        FIRST_FIGURES,
        variable_values={"token": request.path_params["token"]},
        context_value=Context(request=request, response=None, deps=request.state.api_deps),
    )
    if result.errors or not result.data:
        return None
    figures: dict[str, Any] = result.data["publicDashboard"]
    return figures


def _page_data(first: dict[str, Any] | None) -> str:
    """JSON for the page's data block: `<` escaped, so no text in it (a tenant's name) can close it."""
    return json.dumps({"fields": FIGURES, "first": first}).replace("<", "\\u003c")


routes: list[BaseRoute] = [Route("/dashboard/{token}", dashboard_page, methods=["GET"])]
