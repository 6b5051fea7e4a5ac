"""The request context: who is calling and what the resolvers may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import DomainError, Unauthenticated
from domain.ports import EventSubscriber
from domain.roles import Principal
from services.deps import Deps


@dataclass
class Context:
    """Built per HTTP request, and once per websocket connection (hold no session or loader cache here)."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    deps: Deps
    subscriber: EventSubscriber | None = None
    principal: Principal | None = None
    # Why authentication failed, reported when a field needs a caller.
    auth_error: DomainError | None = None
    # Filled from connection_init by graphql-transport-ws and graphql-ws.
    connection_params: dict[str, Any] | None = None
    request_id: str | None = None
    loaders: dict[str, Any] = field(default_factory=dict)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or Unauthenticated("missing bearer token (Authorization: Bearer <JWT>)")
        return self.principal


Info = strawberry.Info[Context, None]
