"""Fixtures: a settable clock and an in-process client of an app that reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.metrics import dataset


class SettableClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(dataset.NOW)


@pytest.fixture
async def clocked_client(make_app, clock) -> AsyncIterator[httpx.AsyncClient]:
    application = make_app(clock=clock)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
