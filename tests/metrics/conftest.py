"""Fixtures: a settable clock and an in-process client of an app that reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.graph.test_query_count import StatementCounter
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


@pytest.fixture
def statements(engine):
    """The statements the app sends during the test (the fixture engine's own are not counted)."""
    counting = StatementCounter(engine)
    event.listen(Engine, "before_cursor_execute", counting)
    yield counting.statements
    event.remove(Engine, "before_cursor_execute", counting)
