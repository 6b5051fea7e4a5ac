"""GraphiQL from the package: its pinned assets under /graphiql/static/, so `/graphql` in a browser
needs no CDN (offline, behind a firewall) and runs under a Content-Security-Policy with no inline code."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
PAGE = (HERE / "page.html").read_text(encoding="utf-8")

HEADERS = {
    # Only this server's files run; the fonts are data: URLs inside GraphiQL's CSS; queries and
    # subscriptions go to this server ('self' covers ws:/wss: to the same host).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src data:; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers=HEADERS)


routes: list[BaseRoute] = [
    Mount("/graphiql/static", app=StaticFiles(directory=HERE / "static"), name="graphiql-static")
]
