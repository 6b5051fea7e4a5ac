"""The Strawberry ASGI app: authenticates each request or websocket connection into a Context."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET, UnsetType

from domain.errors import DomainError
from domain.ports import EventSubscriber
from domain.storable import unstorable
from graph.context import Context
from graph.loaders import Loaders
from graph.schema import schema
from services.authenticate import authenticate, authenticate_until
from services.deps import Deps
from services.public_dashboard import open_public_link

# Close code for a socket whose token expired (graphql-transport-ws uses 4401 for "Unauthorized").
TOKEN_EXPIRED_CLOSE_CODE = 4401
_EXPIRY_TIMER = "calltrax.token_expiry"
# Variables nested deeper than any input type here are refused with the other unstorable text.
MAX_VARIABLE_DEPTH = 32


class CallTraxGraphQL(GraphQL[Context, None]):
    # Subscribers of one event share its result (graph/execution.py); their `next` messages differ
    # only by operation id, so the payload is serialised once (JSON encoding was 7% of fan-out CPU).
    _ENCODED_KEEP = 16

    def encode_json(self, data: object) -> str | bytes:
        shared = _shared_next_payload(data)
        if shared is None:
            return super().encode_json(data)
        message_id, body = shared
        cache = self._encoded
        found = cache.get(id(body))
        if found is None or found[0] is not body:
            found = (body, json.dumps(body, separators=(",", ":")))
            cache[id(body)] = found
            if len(cache) > self._ENCODED_KEEP:
                cache.popitem(last=False)
        return '{"id":' + json.dumps(message_id) + ',"type":"next","payload":{"data":' + found[1] + "}}"

    def __init__(self, *, deps_key: str = "deps", subscriber_key: str = "subscriber") -> None:
        self._encoded: OrderedDict[int, tuple[object, str]] = OrderedDict()
        super().__init__(
            schema,
            graphql_ide="graphiql",
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self._deps_key = deps_key
        self._subscriber_key = subscriber_key

    def decode_json(self, data: str | bytes) -> object:
        """json.loads, every refusal a JSONDecodeError (which Strawberry answers 400, or closes a socket
        on): an integer over Python's 4,300-digit limit, or bytes that are not UTF-8, raise another
        ValueError, which Strawberry let through as a 500."""
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except ValueError as error:
            raise json.JSONDecodeError(str(error), data if isinstance(data, str) else "", 0) from error

    def parse_json(self, data: str | bytes) -> Any:
        """A JSON body or parameter must be an object (or a batch list): Strawberry calls `.get` on it."""
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "the request must be a JSON object")
        return parsed

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's parsing, then refuse text PostgreSQL cannot store before any resolver sees it:
        a NUL in a mutation's argument would otherwise fail in SQL, as an internal error."""
        parsed = await super().parse_http_body(request)
        for data in parsed if isinstance(parsed, list) else [parsed]:
            reason = unstorable(
                [data.query, data.operation_name, data.variables], max_depth=MAX_VARIABLE_DEPTH
            )
            if reason:
                raise HTTPException(400, f"the request {reason}")
        return parsed

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

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate the socket from connection_init's `Authorization`; reject before any event."""
        params = context.connection_params or {}
        authorization = params.get("Authorization", params.get("authorization"))
        public_token = params.get("publicToken")
        if authorization is None and isinstance(public_token, str):
            # A public dashboard page: the link's token admits the socket, with no caller; only
            # fields that need no login (publicDashboardChanged) answer on it.
            try:
                await open_public_link(context.deps, token=public_token)
            except DomainError as error:
                raise ConnectionRejectionError({"message": error.message, "code": error.code}) from error
            return cast(UnsetType, UNSET)
        try:
            principal, expires_at = await authenticate_until(
                context.deps, authorization=authorization if isinstance(authorization, str) else None
            )
        except DomainError as error:
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from error
        context.principal = principal
        if isinstance(context.request, WebSocket):
            _close_at(context.request, expires_at)
        return cast(UnsetType, UNSET)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                response = await self.run(Request(scope=scope, receive=receive))
            except HTTPException as error:
                # Strawberry answers a malformed request in plain text; clients expect GraphQL's shape.
                response = JSONResponse(
                    {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                    status_code=error.status_code,
                )
            await response(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            timer = scope.get(_EXPIRY_TIMER)
            if timer is not None:
                timer.cancel()


def _close_at(websocket: WebSocket, expires_at: datetime) -> None:
    """Close the socket when its token expires (the timer dies with the connection)."""
    delay = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
    loop = asyncio.get_running_loop()

    def expire() -> None:
        task = loop.create_task(_close_expired(websocket))
        websocket.scope[_EXPIRY_TIMER] = task

    websocket.scope[_EXPIRY_TIMER] = loop.call_later(delay, expire)


async def _close_expired(websocket: WebSocket) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        # The client may be closing at the same moment; either way the socket ends.
        with contextlib.suppress(Exception):
            await websocket.close(code=TOKEN_EXPIRED_CLOSE_CODE, reason="token expired")


def _shared_next_payload(message: object) -> tuple[object, object] | None:
    """(operation id, data) of a graphql-transport-ws `next` message carrying only data, else None."""
    if not isinstance(message, dict) or message.get("type") != "next" or len(message) != 3:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or len(payload) != 1 or payload.get("data") is None:
        return None
    return message.get("id"), payload["data"]
