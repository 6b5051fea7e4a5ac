"""The request context: who is calling and what the resolvers may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.errors import DomainError, Unauthenticated
from domain.ports import AccessWatcher, EventSubscriber, LiveAccess
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
    # Keeps open connections' callers current (revocations); `access` is a websocket's own handle.
    watcher: AccessWatcher | None = None
    access: LiveAccess | None = None
    # Queries over the read schema may be answered by one statement (graph/compiled_reads.py).
    compiled_reads: bool = False

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or Unauthenticated("missing bearer token (Authorization: Bearer <JWT>)")
        return self.principal

    def follow(self, access: LiveAccess) -> Callable[[], None]:
        """Keep `principal` as `access` has it now (resolvers and shared executions read it); returns
        the undo."""

        def changed() -> None:
            self.principal = access.principal
            if self.principal is None:
                self.auth_error = Unauthenticated(REVOKED)

        return access.on_change(changed)


REVOKED = "your access was revoked (the user is inactive or gone)"

Info = strawberry.Info[Context, None]
