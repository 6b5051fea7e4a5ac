"""All webhook routes, collected for the app factory."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from webhooks import dialpad, dialpad_company
from webhooks.leads import receive_lead

routes: list[BaseRoute] = [
    Route("/webhooks/lead/{token}", receive_lead, methods=["POST"]),
    *dialpad.routes,
    *dialpad_company.routes,
]
