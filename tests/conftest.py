"""Shared fixtures: a migrated PostgreSQL, the app in-process and on a real port, tenants, users, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

from calltrax.app import create_app
from calltrax.settings import Settings
from calltrax.tokens import issue_token
from domain.ports import Clock, DialpadGateway
from domain.roles import Role
from domain.tenants import TenantSettings
from persistence import tenants as tenant_store
from persistence import users as user_store
from persistence.db import create_engine
from persistence.migrate import upgrade
from persistence.tenants import LeadWebhookRow, TenantRow
from persistence.users import UserRow

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# Tables kept between tests; everything else is emptied after each test.
KEEP_TABLES = {"alembic_version"}


def _reset_schema(url: str) -> None:
    async def reset() -> None:
        engine = create_engine(url, pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """TEST_DATABASE_URL (CI, developers' PostgreSQL), else an embedded server; migrated to head once."""
    url = os.environ.get("TEST_DATABASE_URL")
    embedded = None
    folder = None
    if not url:
        from calltrax.embedded_db import EmbeddedPostgres

        folder = Path(tempfile.mkdtemp(prefix="calltrax-test-pg-"))
        os.chmod(folder, 0o755)
        embedded = EmbeddedPostgres(folder / "pgdata")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            url = embedded.start("calltrax_test")
    _reset_schema(url)
    upgrade(url)
    yield url
    if embedded is not None:
        embedded.stop()
    if folder is not None:
        # A few hundred MB per run otherwise stay in the system's temp folder.
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


def channel_prefix(database_url: str) -> str:
    """This run's Redis channel prefix: runs sharing a Redis server but not a database never hear
    each other's events (pub/sub ignores the database number)."""
    return f"{make_url(database_url).database}:"


@pytest.fixture
def settings(database_url: str, redis_url: str | None) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_channel_prefix=channel_prefix(database_url),
        jwt_secret=TEST_JWT_SECRET,
        public_base_url="http://testserver",
        data_dir=Path(tempfile.gettempdir()) / "calltrax-test-data",
        # Off: tests that exercise SLA alerts set their own interval; elsewhere the sweep (which runs
        # at start) would add SLA_BREACHED events to tests that insert old unattempted leads.
        sla_sweep_seconds=0,
        # Off for the same reason: tests of pipeline stages opt in with their own interval.
        stage_sweep_seconds=0,
    )


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pool for the tests' own setup and SQL assertions."""
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


# Children before parents: what `_clean_database` deletes, in order (read once from the catalog).
_TABLES_CHILDREN_FIRST: list[str] = []


async def _tables_children_first(connection: AsyncConnection) -> list[str]:
    """Every table but KEEP_TABLES, each after the tables whose foreign keys point at it."""
    tables = {
        row[0]
        for row in await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        if row[0] not in KEEP_TABLES
    }
    references = await connection.execute(
        text(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
    )
    parents: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in references:
        if child != parent:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        # A table goes once nothing left still references it.
        referenced = set().union(*parents.values())
        leaves = sorted(table for table in parents if table not in referenced)
        assert leaves, f"foreign keys form a cycle among {sorted(parents)}"
        ordered += leaves
        for table in leaves:
            del parents[table]
    return ordered


@pytest.fixture(autouse=True)
async def _clean_database(engine: AsyncEngine) -> AsyncIterator[None]:
    """Every test starts from empty tables. DELETE, children first, in one round trip: the tables are
    small, and TRUNCATE's locks and new files cost ~0.4 s a test (servers under test use their own
    pools, so a test cannot run inside a transaction that is rolled back)."""
    yield
    async with engine.begin() as connection:
        if not _TABLES_CHILDREN_FIRST:
            _TABLES_CHILDREN_FIRST.extend(await _tables_children_first(connection))
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        # asyncpg runs a script without arguments in one simple-protocol round trip.
        await driver.execute("; ".join(f"DELETE FROM {table}" for table in _TABLES_CHILDREN_FIRST))


AppFactory = Callable[..., Starlette]


@pytest.fixture
def make_app(settings: Settings) -> AppFactory:
    """Build an app; keyword arguments override settings or inject fakes (clock, dialpad)."""

    def build(
        *, clock: Clock | None = None, dialpad: DialpadGateway | None = None, **overrides: Any
    ) -> Starlette:
        from dataclasses import replace

        return create_app(replace(settings, **overrides), clock=clock, dialpad=dialpad)

    return build


@pytest.fixture
async def app(make_app: AppFactory) -> AsyncIterator[Starlette]:
    """The app with its lifespan running. `app.state.lifespan_app` is the ASGI app to call (it hands
    requests the lifespan state); `app.state.lifespan_state` is that state (engine, relay, bus, deps)."""
    application = make_app()
    async with LifespanManager(application, shutdown_timeout=20) as manager:
        application.state.lifespan_app = manager.app
        # asgi-lifespan keeps the yielded state here; tests read the relay and bus from it.
        application.state.lifespan_state = manager._state
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client for `app` (real ASGI, real lifespan state)."""
    transport = httpx.ASGITransport(app=app.state.lifespan_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(application: Starlette, **options: Any) -> AsyncIterator[str]:
    """Run `application` under a real uvicorn on a free loopback port (`options`: uvicorn's, e.g. the
    limits `calltrax serve` sets); yields its base URL."""
    port = free_port()
    options.setdefault("ws_per_message_deflate", False)
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_config=None, lifespan="on", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live_server(make_app: AppFactory) -> AsyncIterator[str]:
    """The app under a real uvicorn (for websockets and real-socket behaviour); yields its base URL."""
    async with serve(make_app()) as base_url:
        yield base_url


@dataclass
class TenantFixture:
    tenant: TenantRow
    webhook: LeadWebhookRow

    @property
    def id(self) -> Any:
        return self.tenant.id

    @property
    def lead_url(self) -> str:
        return f"/webhooks/lead/{self.webhook.token}"


@pytest.fixture
def make_tenant(engine: AsyncEngine) -> Callable[..., Awaitable[TenantFixture]]:
    """Insert an active tenant with one lead webhook (and a Dialpad webhook secret)."""
    counter = iter(range(1, 1_000_000))

    async def build(
        *,
        slug: str | None = None,
        name: str | None = None,
        timezone: str = "UTC",
        settings: TenantSettings | None = None,
        dialpad_secret: str | None = "dialpad-secret-for-tests",
    ) -> TenantFixture:
        number = next(counter)
        slug = slug or f"tenant-{number}"
        async with engine.begin() as connection:
            tenant = await tenant_store.insert_tenant(
                connection,
                name=name or f"Tenant {number}",
                slug=slug,
                timezone=timezone,
                settings=settings,
                dialpad_webhook_secret=dialpad_secret,
            )
            assert tenant is not None, f"slug {slug} taken"
            webhook = await tenant_store.create_lead_webhook(connection, tenant_id=tenant.id)
        return TenantFixture(tenant=tenant, webhook=webhook)

    return build


@dataclass
class UserFixture:
    user: UserRow
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_user(engine: AsyncEngine) -> Callable[..., Awaitable[UserFixture]]:
    """Insert a user (agents assigned to `tenants`, clients owning `tenant`) and sign a token for it."""
    counter = iter(range(1, 1_000_000))

    async def build(
        role: Role | str = Role.ADMIN, *, tenant: Any = None, tenants: tuple[Any, ...] | list[Any] = ()
    ) -> UserFixture:
        role = Role(role)
        number = next(counter)
        tenant_id = getattr(tenant, "id", tenant)
        async with engine.begin() as connection:
            user = await user_store.upsert_user(
                connection,
                user_id=f"user-{role.value}-{number}",
                email=f"{role.value}{number}@example.com",
                name=f"{role.value.title()} {number}",
                role=role,
                tenant_id=tenant_id if role is Role.CLIENT else None,
            )
            for assigned in tenants:
                await user_store.assign_agent(
                    connection, user_id=user.id, tenant_id=getattr(assigned, "id", assigned)
                )
        token = issue_token(TEST_JWT_SECRET, subject=user.id, email=user.email, role=role.value)
        return UserFixture(user=user, token=token)

    return build


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    user: UserFixture | None = None,
) -> dict[str, Any]:
    """POST a GraphQL document; returns the whole JSON answer (data and errors)."""
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=user.headers if user else {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def own_redis() -> Iterator[Any]:
    """A Redis server of the test's own (tests.subscriptions.support.OwnRedis), stopped afterwards."""
    # Imported here: that module imports this one.
    from tests.subscriptions.support import OwnRedis

    redis = OwnRedis()
    try:
        yield redis
    finally:
        redis.stop()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
