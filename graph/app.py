"""The Strawberry ASGI app: authenticates each request or websocket connection into a Context."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET, UnsetType

from domain.errors import DomainError
from domain.ports import EventSubscriber, LiveAccess
from domain.storable import unstorable
from graph.compiled_reads import cached_statement, encoded_answer, has_cached_statements, run_statement
from graph.context import Context
from graph.graphiql import graphiql_page
from graph.loaders import Loaders
from graph.read_limits import STATE_KEY as READ_LIMITS_KEY
from graph.read_limits import ReadLimits, known_refusal
from graph.schema import schema
from graph.socket_limits import TOO_MANY_CLOSE_CODE, SocketLimits
from services.authenticate import authenticate_until
from services.deps import Deps
from services.public_dashboard import open_public_link

# Close code for a socket whose token expired (graphql-transport-ws uses 4401 for "Unauthorized").
TOKEN_EXPIRED_CLOSE_CODE = 4401
# Close code for a socket whose user was deactivated or deleted: the code connection_init now gets.
ACCESS_REVOKED_CLOSE_CODE = 4403
_EXPIRY_TIMER = "calltrax.token_expiry"
_ACCESS = "calltrax.access"
# Variables nested deeper than any input type here are refused with the other unstorable text.
MAX_VARIABLE_DEPTH = 32
# Operations one socket may run at once; past it Strawberry answers a new one "Subscription limit reached".
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
_SOCKET_ADDRESS = "calltrax.socket_address"
_SOCKET_USER = "calltrax.socket_user"
_CLOSE_CODE = "calltrax.close_code"
# Set on a request whose cached compiled statement returned no row: Strawberry then runs it without.
COMPILED_TRIED = "calltrax.compiled_tried"

BodyReader = Callable[[Request], Awaitable[bytes]]


class CallTraxGraphQL(GraphQL[Context, None]):
    # Subscribers of one event share its result (graph/execution.py); their `next` messages differ
    # only by operation id, so the payload is serialised once (JSON encoding was 7% of fan-out CPU).
    _ENCODED_KEEP = 16

    def encode_json(self, data: object) -> str | bytes:
        compiled = encoded_answer(data)
        if compiled is not None:
            return compiled
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

    def __init__(
        self,
        *,
        deps_key: str = "deps",
        subscriber_key: str = "subscriber",
        access_key: str = "access",
        read_body: BodyReader | None = None,
        socket_limits: SocketLimits | None = None,
        compiled_reads: bool = True,
    ) -> None:
        """`read_body` reads a POST body within its size and time limits (the composition root hands
        the webhooks' reader); `socket_limits` bounds open websockets per address and per user;
        `compiled_reads` lets HTTP queries over the read schema run as one statement (graph/compiled_reads.py)."""
        self._encoded: OrderedDict[int, tuple[object, str]] = OrderedDict()
        super().__init__(
            schema,
            graphql_ide="graphiql",
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self._deps_key = deps_key
        self._subscriber_key = subscriber_key
        self._access_key = access_key
        self._read_body = read_body
        self._socket_limits = socket_limits
        self._compiled_reads = compiled_reads

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL with its assets from this server (graph/graphiql), not Strawberry's CDN page."""
        return graphiql_page()

    def decode_json(self, data: str | bytes) -> object:
        """json.loads, every refusal a JSONDecodeError (which Strawberry answers 400, or closes a socket
        on): an integer over Python's 4,300-digit limit, bytes that are not UTF-8, or nesting past the
        stack raise other errors, which Strawberry let through as a 500."""
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            # Nested past the interpreter's stack: as malformed as any other refusal.
            raise json.JSONDecodeError("the JSON nests too deep", "", 0) from None
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
            watcher=getattr(state, self._access_key, None),
            compiled_reads=self._compiled_reads
            and isinstance(request, Request)
            and not request.scope.get(COMPILED_TRIED),
        )
        if isinstance(request, Request):
            # Per request; websocket contexts live per connection and get uncached loaders on first use.
            context.loaders["data"] = Loaders(deps)
            try:
                # Signed in as sockets are: the principal from the process's short-lived cache that
                # every announced access change clears (docs/security.md), else one batched read.
                context.principal, _ = await authenticate_until(
                    deps,
                    authorization=request.headers.get("authorization"),
                    principals=context.watcher.principal if context.watcher is not None else None,
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
                context.deps,
                authorization=authorization if isinstance(authorization, str) else None,
                principals=context.watcher.principal if context.watcher is not None else None,
            )
        except DomainError as error:
            raise ConnectionRejectionError({"message": error.message, "code": error.code}) from error
        context.principal = principal
        if isinstance(context.request, WebSocket):
            if not self._sign_in(context.request.scope, principal.user_id):
                raise ConnectionRejectionError(
                    {"message": "too many open connections for this user", "code": "TOO_MANY_CONNECTIONS"}
                )
            _close_at(context.request, expires_at)
            if context.watcher is not None:
                context.access = _watch(context, context.watcher.open(principal), context.request)
        return cast(UnsetType, UNSET)

    async def _compiled_answer(self, scope: Scope, sent: _Sent) -> Response | None:
        """The answer of a query whose document, operation, variables (bar by-id ids) and caller's
        access an earlier request compiled (graph/compiled_reads.py `cached_statement`), or None:
        then Strawberry runs it as any other. That earlier request was parsed, validated (depth,
        aliases, tokens, storable strings), priced (the price depends on nothing the cache key
        leaves out) and compiled by Strawberry and CompiledReads, and their caches would give this
        one the same answers: what is left per request is signing the caller in and the statement.
        Where it returns no row (a missing row) or fails, Strawberry runs the request without the
        statement, and the resolvers answer."""
        query, variables, name = sent
        if not has_cached_statements(query, name) or unstorable(
            [query, name, variables], max_depth=MAX_VARIABLE_DEPTH
        ):
            return None
        request = Request(scope)
        deps: Deps = getattr(request.state, self._deps_key)
        watcher = getattr(request.state, self._access_key, None)
        try:
            principal, _ = await authenticate_until(
                deps,
                authorization=request.headers.get("authorization"),
                principals=watcher.principal if watcher is not None else None,
            )
        except DomainError:
            return None
        statement = cached_statement(query, name, variables, principal, deps.clock.now())
        if statement is None:
            return None
        text = await run_statement(deps, statement)
        if text is None:
            # Strawberry runs the request now; the statement would only answer the same again.
            scope[COMPILED_TRIED] = True
            return None
        return Response('{"data":' + text + "}", media_type="application/json")

    def _sign_in(self, scope: Scope, user_id: str) -> bool:
        """Count the socket against its user from now on; False (close with 4429) past the user's fill."""
        address = scope.get(_SOCKET_ADDRESS)
        if self._socket_limits is None or address is None or scope.get(_SOCKET_USER) is not None:
            return True
        if not self._socket_limits.sign_in(address, user_id):
            scope[_CLOSE_CODE] = TOO_MANY_CLOSE_CODE
            return False
        scope[_SOCKET_USER] = user_id
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
            return
        limits = self._socket_limits
        address = _client_address(scope)
        if limits is not None and scope["type"] == "websocket":
            if not limits.open(address):
                await _refuse(WebSocket(scope, receive, send))
                return
            scope[_SOCKET_ADDRESS] = address
            send = _with_close_code(scope, send)
        try:
            await super().__call__(scope, receive, send)
        finally:
            timer = scope.get(_EXPIRY_TIMER)
            if timer is not None:
                timer.cancel()
            access = scope.get(_ACCESS)
            if access is not None:
                access.close()
            if limits is not None and _SOCKET_ADDRESS in scope:
                limits.close(address, scope.get(_SOCKET_USER))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response: Response | None = None
            if self._read_body is not None and scope.get("method") == "POST":
                # Read (size and time bounded) before Strawberry, which would read any body whole.
                body = await self._read_body(Request(scope=scope, receive=receive))
                receive = _replay(body, receive)
                sent = _sent_query(scope, body)
                if sent is not None:
                    response = _known_refusal(scope, sent)
                    if response is None and self._compiled_reads:
                        response = await self._compiled_answer(scope, sent)
            if response is None:
                response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            # Strawberry answers a malformed request in plain text; clients expect GraphQL's shape.
            response = _http_error(error.status_code, "BAD_REQUEST", error.reason)
        except DomainError as error:
            # Too large: uvicorn skips the rest of the body. Too slow: the connection closes.
            headers = {"Connection": "close"} if error.http_status == 408 else None
            response = _http_error(error.http_status, error.code, error.message, headers=headers)
        await response(scope, receive, send)


# A JSON POST's query, variables and operation name, when each has its GraphQL type.
_Sent = tuple[str, dict[str, Any] | None, str | None]


def _sent_query(scope: Scope, body: bytes) -> _Sent | None:
    """What a JSON POST asks (read once for the shortcuts before Strawberry); None for anything
    else, which Strawberry's own parsing answers (400: `decode_json`)."""
    if not any(
        k == b"content-type" and v.split(b";")[0].strip() == b"application/json"
        for k, v in scope.get("headers") or ()
    ):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    extensions = data.get("extensions")
    if (
        not isinstance(query, str)
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
        # Strawberry refuses a body whose `extensions` is not an object (400); so must a shortcut.
        or not (extensions is None or isinstance(extensions, dict))
    ):
        return None
    return query, variables, name


def _known_refusal(scope: Scope, sent: _Sent) -> Response | None:
    """The QUERY_TOO_COSTLY answer to a query refused as too costly before (graph/read_limits.py
    `known_refusal`), without Strawberry's pipeline; None for anything else."""
    limits = getattr(Request(scope).state, READ_LIMITS_KEY, None)
    if not isinstance(limits, ReadLimits):
        return None
    query, variables, name = sent
    answer = known_refusal(query, name, variables, limits.max_cost)
    return None if answer is None else JSONResponse(answer)


def _http_error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status, headers=headers
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the already read body handed over first (then disconnects as they come)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _refuse(websocket: WebSocket) -> None:
    """Refuse the upgrade with 429 (a plain 403 where the server cannot send an HTTP answer)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = {
            "error": {
                "code": "TOO_MANY_CONNECTIONS",
                "message": "too many open connections from this address",
            }
        }
        await websocket.send_denial_response(JSONResponse(body, status_code=429))
    else:
        await websocket.close(code=TOO_MANY_CLOSE_CODE)


def _with_close_code(scope: Scope, send: Send) -> Send:
    """`send` closing with the code a refusal set (Strawberry closes every rejected init with 4403)."""

    async def send_with_code(message: Message) -> None:
        code = scope.get(_CLOSE_CODE)
        if code is not None and message["type"] == "websocket.close":
            message = {**message, "code": code, "reason": "too many open connections"}
        await send(message)

    return send_with_code


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


def _watch(context: Context, access: LiveAccess, websocket: WebSocket) -> LiveAccess:
    """Keep the socket's caller current; close the socket once the user is inactive or gone (its
    subscriptions that lost a tenant end one by one, with FORBIDDEN)."""
    websocket.scope[_ACCESS] = access
    context.follow(access)

    def changed() -> None:
        if access.principal is None and _REVOKING not in websocket.scope:
            websocket.scope[_REVOKING] = asyncio.get_running_loop().create_task(_close_revoked(websocket))

    access.on_change(changed)
    return access


_REVOKING = "calltrax.access_revoked"


async def _close_revoked(websocket: WebSocket) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=ACCESS_REVOKED_CLOSE_CODE, reason="access revoked")


def _shared_next_payload(message: object) -> tuple[object, object] | None:
    """(operation id, data) of a graphql-transport-ws `next` message carrying only data, else None."""
    if not isinstance(message, dict) or message.get("type") != "next" or len(message) != 3:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or len(payload) != 1 or payload.get("data") is None:
        return None
    return message.get("id"), payload["data"]
