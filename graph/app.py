"""The Strawberry ASGI app: authenticates each request or websocket connection into a Context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from domain.errors import DomainError
from domain.ports import EventSubscriber
from graph.context import Context
from graph.loaders import Loaders
from graph.schema import schema
from services.authenticate import authenticate
from services.deps import Deps


class CallTraxGraphQL(GraphQL[Context, None]):
    def __init__(self, *, deps_key: str = "deps", subscriber_key: str = "subscriber") -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self._deps_key = deps_key
        self._subscriber_key = subscriber_key

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state: Any = request.state
        deps: Deps = getattr(state, self._deps_key)
        subscriber: EventSubscriber | None = getattr(state, self._subscriber_key, None)
        context = Context(
            request=request,
            response=response,
            deps=deps,
            subscriber=subscriber,
            request_id=request.scope.get("calltrax.request_id"),
        )
        if isinstance(request, Request):
            # Per request; websocket contexts live per connection and get uncached loaders on first use.
            context.loaders["data"] = Loaders(deps)
            try:
                context.principal = await authenticate(
                    deps, authorization=request.headers.get("authorization")
                )
            except DomainError as error:
                context.auth_error = error
        return context
