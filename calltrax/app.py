"""The Starlette app factory: lifespan-owned engine, event bus, relay and HTTP client; routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TypedDict

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from calltrax.access import AccessRegistry
from calltrax.background import BackgroundTasks
from calltrax.dialpad_client import DialpadClient
from calltrax.event_bus import EventBus
from calltrax.home import home
from calltrax.notifier import Notifier
from calltrax.observability import RequestObservability, metrics_endpoint
from calltrax.outbound import Resolver, system_resolver
from calltrax.relay import EventRelay
from calltrax.retention import RetentionTask
from calltrax.settings import Settings
from calltrax.simulated_dialpad import SimulatedDialpad
from calltrax.subscriptions import Subscriptions
from calltrax.tokens import JwtVerifier
from domain.ports import Clock, DialpadGateway, EventSubscriber, SystemClock
from exports.routes import routes as export_routes
from graph.app import CallTraxGraphQL
from graph.graphiql import routes as graphiql_routes
from graph.public_dashboard.page import routes as dashboard_routes
from graph.read_limits import ReadGate, ReadLimits
from graph.socket_limits import SocketLimits
from persistence.db import create_engine
from services.deps import Deps
from webhooks.bodies import read_body
from webhooks.routes import routes as webhook_routes

READINESS_TIMEOUT_SECONDS = 2.0


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


def dialpad_gateway(settings: Settings, http: httpx.AsyncClient) -> DialpadGateway:
    """The real Dialpad API when a key is set, else the built-in simulation (so provisioning works out of the box)."""
    if settings.dialpad_api_key:
        return DialpadClient(http, base_url=settings.dialpad_base_url, api_key=settings.dialpad_api_key)
    return SimulatedDialpad()


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
    database_url = settings.database_url

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        # Three pools, so no kind of work can take another's connections (docs/security.md): the
        # webhooks' (`engine`), the API's (GraphQL, exports, subscriptions; its statements have a
        # timeout) and the background work's (relay, sweeps, notifications, retention, access re-check).
        engine = create_engine(
            database_url,
            pool_size=settings.db_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
        )
        api_engine = create_engine(
            database_url,
            pool_size=settings.db_api_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
            statement_timeout_seconds=settings.read_statement_timeout_seconds,
        )
        background_engine = create_engine(
            database_url,
            pool_size=settings.db_background_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
        )
        bus = EventBus(settings.broadcast_url)
        await bus.connect()
        relay = EventRelay(background_engine, bus)
        await relay.start()
        subscriptions = Subscriptions(api_engine, bus)
        await subscriptions.start()
        access = AccessRegistry(
            background_engine,
            bus,
            recheck_seconds=settings.access_recheck_seconds,
            request_engine=api_engine,
        )
        await access.start()
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        tokens = (
            JwtVerifier(
                secret=settings.jwt_secret,
                jwks_url=settings.jwks_url,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
            if settings.jwt_secret or settings.jwks_url
            else None
        )
        deps = Deps(
            engine=engine,
            publisher=relay,
            clock=clock or SystemClock(),
            tokens=tokens,
            dialpad=dialpad if dialpad is not None else dialpad_gateway(settings, http),
            public_base_url=settings.public_base_url,
            dialpad_office_id=settings.dialpad_office_id,
            notify_destinations=settings.notify_destinations,
            access=access,
        )
        api_deps = replace(deps, engine=api_engine)
        background_deps = replace(deps, engine=background_engine)
        retention = RetentionTask(background_deps, retention_days=settings.event_retention_days)
        await retention.start()
        # SLA alerts and notifications.
        notifier = Notifier(settings, resolver=resolver)
        background = BackgroundTasks(background_deps, settings, notifier)
        await background.start()
        # Everything made so far lives as long as the process: keep it out of the collector's scans,
        # whose full passes over it showed up as tail latency.
        gc.freeze()
        try:
            yield State(
                settings=settings,
                engine=engine,
                bus=bus,
                relay=relay,
                http=http,
                deps=deps,
                api_deps=api_deps,
                subscriber=subscriptions,
                access=access,
                background=background,
                read_limits=ReadLimits(
                    max_cost=settings.graphql_max_query_cost,
                    max_concurrent_per_user=settings.graphql_max_concurrent_per_user,
                ),
            )
        finally:
            await background.stop()
            await notifier.aclose()
            await retention.stop()
            await access.stop()
            await subscriptions.stop()
            await relay.stop()
            await http.aclose()
            await bus.disconnect()
            await engine.dispose()
            await api_engine.dispose()
            await background_engine.dispose()

    graphql = CallTraxGraphQL(
        deps_key="api_deps",
        read_body=functools.partial(
            read_body, limit=settings.graphql_max_body_bytes, time_limit=settings.body_timeout_seconds
        ),
        socket_limits=SocketLimits(
            per_address=settings.ws_max_per_address, per_user=settings.ws_max_per_user
        ),
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
    )


def app_from_env() -> Starlette:
    """Uvicorn factory for worker processes: settings from the environment (the CLI fills it)."""
    settings = Settings.from_env().with_saved_secret(create=False)
    return create_app(settings)
