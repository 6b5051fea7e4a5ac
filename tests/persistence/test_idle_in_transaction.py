"""PostgreSQL ends a session of ours left idle inside a transaction: the backstop for a leaked one."""

from __future__ import annotations

import asyncio

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import exc, text

from persistence.db import create_engine


async def test_a_transaction_left_open_is_ended_by_the_server(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, idle_in_transaction_seconds=0.3)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # SQLAlchemy begins a transaction here
            await asyncio.sleep(1.0)
            with pytest.raises(exc.DBAPIError):
                await connection.execute(text("SELECT 1"))
        # The pool replaces the ended session.
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_our_connections_carry_the_timeout_the_setting_gives(make_app, database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            shown = (await connection.execute(text("SHOW idle_in_transaction_session_timeout"))).scalar_one()
        assert shown == "1min"
    finally:
        await engine.dispose()
    app = make_app(db_idle_in_transaction_seconds=5)
    async with LifespanManager(app) as manager:
        app_engine = manager._state["engine"]
        async with app_engine.connect() as connection:
            shown = (await connection.execute(text("SHOW idle_in_transaction_session_timeout"))).scalar_one()
    assert shown == "5s"
