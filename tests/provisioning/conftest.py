"""A fake Dialpad under a real uvicorn, our real client pointed at it, and the app using that client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from calltrax.dialpad_client import DialpadClient
from tests.conftest import AppFactory, serve
from tests.fake_dialpad import API_KEY, FakeDialpad

OFFICE_ID = "5527348325810176"


@contextlib.asynccontextmanager
async def app_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """`app` with its lifespan running, reached in-process."""
    # Generous timeouts: six test suites share two cores here.
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def fake_dialpad() -> AsyncIterator[FakeDialpad]:
    fake = FakeDialpad()
    async with serve(fake.app()) as base_url:
        fake.base_url = f"{base_url}/api/v2"
        yield fake


@pytest.fixture
async def dialpad(fake_dialpad: FakeDialpad) -> AsyncIterator[DialpadClient]:
    """Our real client over real HTTP, with short backoffs so retry tests stay quick."""
    async with httpx.AsyncClient() as http:
        yield DialpadClient(
            http, base_url=fake_dialpad.base_url, api_key=API_KEY, base_delay=0.02, max_delay=0.1, timeout=0.5
        )


@pytest.fixture
async def prov_client(make_app: AppFactory, dialpad: DialpadClient) -> AsyncIterator[httpx.AsyncClient]:
    """The app with that client injected (the wiring from settings is tested on its own)."""
    async with app_client(make_app(dialpad=dialpad, dialpad_office_id=OFFICE_ID)) as http:
        yield http
