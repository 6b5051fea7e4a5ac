"""`GET /`: a small page for whoever opens the server in a browser, pointing to what it serves."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

# Documents in the repository (names only: the server may run where no copy of them is published).
DOCS = (
    ("README.md", "set-up, settings, the CLI, architecture"),
    ("docs/leads.md", "sending leads to a tenant's webhook"),
    ("docs/dialpad.md", "Dialpad call events; `calltrax dialpad send` signs and posts them"),
    ("docs/pipeline.md", "pipeline stages"),
    ("docs/notifications.md", "SLA alerts and notifications"),
)

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CallTrax</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;
color:#222;line-height:1.5}}code{{background:#f3f3f3;padding:0 .2rem}}</style></head>
<body>
<h1>CallTrax</h1>
<p>Lead-response analytics: a GraphQL API, lead and Dialpad webhooks, live subscriptions.</p>
<ul>
<li><a href="/graphql">GraphiQL</a>: the GraphQL API in the browser (add the header
<code>{{"Authorization": "Bearer &lt;token&gt;"}}</code>; <code>calltrax token</code> makes one)</li>
<li><a href="/healthz">/healthz</a>: the process answers</li>
<li><a href="/readyz">/readyz</a>: the database and the broker answer</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
<h2>Documentation</h2>
<p>In the CallTrax repository:</p>
<ul>
{"".join(f"<li><code>{name}</code>: {about}</li>" for name, about in DOCS)}
</ul>
</body></html>
"""

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}


async def home(request: Request) -> Response:
    return HTMLResponse(PAGE, headers=HEADERS)
