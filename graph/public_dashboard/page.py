"""`GET /dashboard/{token}`: the public dashboard page, one self-contained HTML file (inline CSS and
JS, no build step, nothing fetched from elsewhere) that follows `publicDashboardChanged` live."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from domain.errors import NotFound
from services.public_dashboard import open_public_link

PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")

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
        await open_public_link(request.state.deps, token=request.path_params["token"])
    except NotFound:
        return HTMLResponse(GONE, status_code=404, headers=HEADERS)
    # The page reads its token from its own URL: nothing from the request is written into it.
    return HTMLResponse(PAGE, headers=HEADERS)


routes: list[BaseRoute] = [Route("/dashboard/{token}", dashboard_page, methods=["GET"])]
