"""The Starlette app factory: routes, and a lifespan that runs the server runtime (calltrax/runtime.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from typing import TypedDict

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from calltrax.access import AccessRegistry
from calltrax.background import BackgroundTasks
from calltrax.event_bus import EventBus
from calltrax.home import home
from calltrax.observability import RequestObservability, configure_logging, metrics_endpoint, worker_stopped
from calltrax.outbound import Resolver, system_resolver
from calltrax.relay import EventRelay
from calltrax.runtime import server_runtime
from calltrax.settings import Settings
from domain.ports import Clock, DialpadGateway, EventSubscriber
from exports.routes import routes as export_routes
from graph.app import CallTraxGraphQL
from graph.graphiql import routes as graphiql_routes
from graph.public_dashboard.page import routes as dashboard_routes
from graph.read_limits import ReadGate, ReadLimits
from graph.socket_limits import SocketLimits
from services.deps import Deps
from webhooks.bodies import read_body
from webhooks.responses import error_response
from webhooks.routes import routes as webhook_routes

READINESS_TIMEOUT_SECONDS = 2.0
# The collector's thresholds of a server process (Python's defaults: 700, 10, 10); see app_from_env.
GC_THRESHOLDS = (10_000, 20, 100)


class State(TypedDict):
    """What the lifespan hands every request (`request.state`)."""

    settings: Settings
    engine: AsyncEngine
    bus: EventBus
    relay: EventRelay
    http: httpx.AsyncClient
    deps: Deps
    # The same, on the API pool: GraphQL, exports and the public dashboard page use these.
    api_deps: Deps
    subscriber: EventSubscriber | None
    access: AccessRegistry
    background: BackgroundTasks
    # GraphQL's query-cost and per-user concurrency limits (graph/read_limits.py reads this key).
    read_limits: ReadLimits


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when the database and the broker answer; 503 naming the failing part otherwise."""
    state = request.state
    checks: dict[str, str] = {}

    async def database() -> None:
        async with state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    for name, probe in (("database", database), ("broker", state.bus.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=READINESS_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as error:
            checks[name] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialpad: DialpadGateway | None = None,
    resolver: Resolver = system_resolver,
) -> Starlette:
    """Build the app for `settings` (which must carry a database URL); fakes are injected, never branched on
    (`resolver` answers the notifier's DNS questions, so tests can make a name resolve to loopback)."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (the CLI starts an embedded PostgreSQL)")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        try:
            async with server_runtime(settings, clock=clock, dialpad=dialpad, resolver=resolver) as runtime:
                # Everything made so far lives as long as the process: keep it out of the collector's
                # scans, whose full passes over it showed up as tail latency.
                gc.freeze()
                yield State(
                    settings=settings,
                    engine=runtime.engine,
                    bus=runtime.bus,
                    relay=runtime.relay,
                    http=runtime.http,
                    deps=runtime.deps,
                    api_deps=runtime.api_deps,
                    subscriber=runtime.subscriptions,
                    access=runtime.access,
                    background=runtime.background,
                    read_limits=ReadLimits(
                        max_cost=settings.graphql_max_query_cost,
                        max_concurrent_per_user=settings.graphql_max_concurrent_per_user,
                    ),
                )
        finally:
            worker_stopped()

    graphql = CallTraxGraphQL(
        deps_key="api_deps",
        read_body=functools.partial(
            read_body, limit=settings.graphql_max_body_bytes, time_limit=settings.body_timeout_seconds
        ),
        socket_limits=SocketLimits(
            per_address=settings.ws_max_per_address, per_user=settings.ws_max_per_user
        ),
        compiled_reads=settings.graphql_compiled_reads,
    )
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        # Counted per caller from the start of each request (graph/read_limits.py).
        Route("/graphql", ReadGate(graphql), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *webhook_routes,
        *export_routes,
        *dashboard_routes,
        *graphiql_routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestObservability, routes=routes)],
        exception_handlers={HTTPException: http_error},
    )


# Codes for the answers the router itself gives (no route, wrong method, ...).
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def http_error(request: Request, error: Exception) -> Response:
    """The router's own refusals (no route at this path, a method the route does not take) as the
    JSON error every other answer is, instead of Starlette's plain text; headers (`Allow`) are kept."""
    assert isinstance(error, HTTPException)
    if error.status_code in (204, 304):
        return Response(status_code=error.status_code, headers=error.headers)
    code = _HTTP_CODES.get(error.status_code, f"HTTP_{error.status_code}")
    message = {404: "nothing at this address", 405: f"{request.method} is not allowed here"}.get(
        error.status_code, str(error.detail)
    )
    return error_response(error.status_code, code, message, headers=error.headers)


def app_from_env() -> Starlette:
    """Uvicorn factory for worker processes: settings from the environment (the CLI fills it)."""
    settings = Settings.from_env().with_saved_secret(create=False)
    # A worker process of `serve --workers N` starts fresh: it logs as the CLI does.
    configure_logging(settings.log_level)
    # Thousands of sockets are millions of long-lived objects: with the default thresholds a
    # reconnect storm of 5,000 ran several full collections, each stopping the event loop for
    # seconds (2.7 s measured) while the heap grew. Fewer, larger young collections let far fewer of
    # them run (bench/subscriptions.py --storm: every subscription open in 18 s, not 39). Set for
    # the whole process, so here (a server process) and not in create_app, which tests also run.
    gc.set_threshold(*GC_THRESHOLDS)
    return create_app(settings)
