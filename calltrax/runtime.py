"""The runtime of one process, built in one place: a server's (engine, bus, relay, subscriptions, access
re-checks, HTTP client, background loops) or a command's (engine, bus, relay), torn down in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.access import AccessRegistry
from calltrax.background import BackgroundTasks
from calltrax.dialpad_client import DialpadClient
from calltrax.event_bus import EventBus
from calltrax.notifier import Notifier
from calltrax.outbound import Resolver, system_resolver
from calltrax.relay import EventRelay
from calltrax.settings import Settings
from calltrax.simulated_dialpad import SimulatedDialpad
from calltrax.subscriptions import Subscriptions
from calltrax.tokens import JwtVerifier
from domain.ports import Clock, DialpadGateway, SystemClock, TokenVerifier
from persistence.db import RESERVED_CONNECTIONS, create_engine
from services.deps import Deps

# A command (demo, token, dialpad setup) runs its work alone; the demo loads with this many at once.
COMMAND_POOL_SIZE = 10

# Connections request handlers may hold at once, per pool: its size minus a few
# (persistence.db.RESERVED_CONNECTIONS) kept for the webhooks' own reads (a token's tenant, the Dialpad inbox). When requests took them all, the relay (then on
# the same pool; now on the background pool) waited behind them and published large batches at
# once, which showed as tail latency (Dialpad bench, 16 connections: p99 58-61 -> 39 ms).
# Past its size the pool would open overflow connections and close them again on return, and a new
# PostgreSQL backend per request costs more than the whole write (measured: 8 leads/s).


def write_gate(pool_size: int) -> asyncio.Semaphore:
    """The semaphore webhook writes hold while they use a connection of a pool of `pool_size`
    (`Deps.write_gate`; see above)."""
    return asyncio.Semaphore(max(1, pool_size - RESERVED_CONNECTIONS))


@dataclass(frozen=True)
class Runtime:
    """What any process runs use cases on (a command's whole runtime)."""

    settings: Settings
    engine: AsyncEngine
    bus: EventBus
    relay: EventRelay
    deps: Deps


@dataclass(frozen=True)
class ServerRuntime(Runtime):
    """A server's: also live subscriptions, access re-checks, an HTTP client and the background loops."""

    http: httpx.AsyncClient
    subscriptions: Subscriptions
    access: AccessRegistry
    background: BackgroundTasks
    # `deps` on the API pool (GraphQL, exports, subscriptions); `deps` itself is the webhooks'.
    api_deps: Deps


def dialpad_gateway(settings: Settings, http: httpx.AsyncClient) -> DialpadGateway:
    """The real Dialpad API when a key is set, else the built-in simulation (so provisioning works out of the box)."""
    if settings.dialpad_api_key:
        return DialpadClient(http, base_url=settings.dialpad_base_url, api_key=settings.dialpad_api_key)
    return SimulatedDialpad()


def token_verifier(settings: Settings) -> TokenVerifier | None:
    if not (settings.jwt_secret or settings.jwks_url):
        return None
    return JwtVerifier(
        secret=settings.jwt_secret,
        jwks_url=settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


@contextlib.asynccontextmanager
async def server_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialpad: DialpadGateway | None = None,
    resolver: Resolver = system_resolver,
) -> AsyncIterator[ServerRuntime]:
    """Everything a server process runs, started; stopped in reverse order on exit. Fakes are injected
    here (a clock, a Dialpad, a DNS resolver for the notifier), never branched on."""
    assert settings.database_url, "the runtime needs settings.database_url"
    async with contextlib.AsyncExitStack() as stack:
        # Three pools, so no kind of work can take another's connections (docs/security.md): the
        # webhooks' (`engine`), the API's (GraphQL, exports, subscriptions; its statements have a
        # timeout) and the background work's (relay, sweeps, notifications, retention, access re-check).
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
            generic_plans=True,
        )
        stack.push_async_callback(engine.dispose)
        api_engine = create_engine(
            settings.database_url,
            pool_size=settings.db_api_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
            statement_timeout_seconds=settings.read_statement_timeout_seconds,
        )
        stack.push_async_callback(api_engine.dispose)
        background_engine = create_engine(
            settings.database_url,
            pool_size=settings.db_background_pool_size,
            idle_in_transaction_seconds=settings.db_idle_in_transaction_seconds,
        )
        stack.push_async_callback(background_engine.dispose)
        bus = await _connected_bus(settings, stack)
        relay = EventRelay(background_engine, bus)
        await relay.start()
        stack.push_async_callback(relay.stop)
        subscriptions = Subscriptions(api_engine, bus)
        await subscriptions.start()
        stack.push_async_callback(subscriptions.stop)
        access = AccessRegistry(
            background_engine,
            bus,
            recheck_seconds=settings.access_recheck_seconds,
            request_engine=api_engine,
        )
        await access.start()
        stack.push_async_callback(access.stop)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        stack.push_async_callback(http.aclose)
        deps = Deps(
            engine=engine,
            publisher=relay,
            clock=clock or SystemClock(),
            tokens=token_verifier(settings),
            dialpad=dialpad if dialpad is not None else dialpad_gateway(settings, http),
            public_base_url=settings.public_base_url,
            dialpad_office_id=settings.dialpad_office_id,
            notify_destinations=settings.notify_destinations,
            access=access,
            write_gate=write_gate(settings.db_pool_size),
        )
        notifier = Notifier(settings, resolver=resolver)
        stack.push_async_callback(notifier.aclose)
        background = BackgroundTasks(
            replace(deps, engine=background_engine, write_gate=write_gate(settings.db_background_pool_size)),
            settings,
            notifier,
        )
        await background.start()
        stack.push_async_callback(background.stop)
        yield ServerRuntime(
            settings=settings,
            engine=engine,
            bus=bus,
            relay=relay,
            deps=deps,
            http=http,
            subscriptions=subscriptions,
            access=access,
            background=background,
            api_deps=replace(deps, engine=api_engine, write_gate=write_gate(settings.db_api_pool_size)),
        )


@contextlib.asynccontextmanager
async def command_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """What a command needs to run use cases outside any server. Its events are numbered and
    published before it ends (no relay loop runs: the exit drains it)."""
    assert settings.database_url, "the runtime needs settings.database_url"
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.database_url, pool_size=COMMAND_POOL_SIZE)
        stack.push_async_callback(engine.dispose)
        bus = await _connected_bus(settings, stack)
        relay = EventRelay(engine, bus)
        deps = Deps(
            engine=engine,
            publisher=relay,
            clock=SystemClock(),
            tokens=None,
            public_base_url=settings.public_base_url,
            write_gate=write_gate(COMMAND_POOL_SIZE),
        )
        yield Runtime(settings=settings, engine=engine, bus=bus, relay=relay, deps=deps)
        await relay.drain()


async def _connected_bus(settings: Settings, stack: contextlib.AsyncExitStack) -> EventBus:
    bus = EventBus(settings.broadcast_url, channel_prefix=settings.redis_channel_prefix)
    await bus.connect()
    stack.push_async_callback(bus.disconnect)
    return bus
