"""All webhook routes, collected for the app factory."""

from __future__ import annotations

from starlette.routing import BaseRoute

from webhooks import dialpad

routes: list[BaseRoute] = [*dialpad.routes]
