"""Fixtures for subscription tests: a real uvicorn server whose lifespan state the test can use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import AppFactory
from tests.subscriptions.support import Server, running


@pytest.fixture
async def server(make_app: AppFactory) -> AsyncIterator[Server]:
    async with running(make_app()) as live:
        yield live
