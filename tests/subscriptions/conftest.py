"""Fixtures for subscription tests: a real uvicorn server whose lifespan state the test can use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import AppFactory
from tests.subscriptions.support import OwnRedis, Server, running


@pytest.fixture
async def server(make_app: AppFactory) -> AsyncIterator[Server]:
    async with running(make_app()) as live:
        yield live


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    try:
        yield redis
    finally:
        redis.stop()
