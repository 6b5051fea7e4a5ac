"""The webhooks' pool plans each statement once per connection; the API pool keeps PostgreSQL's choice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from persistence.db import DriverStatement, create_engine

_BY_KEY = DriverStatement(text("SELECT count(*) AS n FROM tenants WHERE id = CAST(:id AS uuid)"))


async def _plans(engine: AsyncEngine, runs: int) -> tuple[int, int]:
    """Run one keyed statement `runs` times on one connection; its (generic, custom) plan counts."""
    async with engine.connect() as connection:
        for _ in range(runs):
            await _BY_KEY.fetchrow(connection, {"id": "00000000-0000-0000-0000-000000000000"})
        row = (
            await connection.execute(
                text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = :sql"),
                {"sql": _BY_KEY.sql},
            )
        ).one()
    return int(row.generic_plans), int(row.custom_plans)


async def test_a_generic_plans_engine_never_plans_a_statement_for_its_values(database_url: str) -> None:
    generic = create_engine(database_url, pool_size=1, generic_plans=True)
    default = create_engine(database_url, pool_size=1)
    try:
        assert await _plans(generic, 8) == (8, 0)
        # PostgreSQL's default plans the first five executions for their values.
        _, custom_plans = await _plans(default, 8)
        assert custom_plans >= 5
    finally:
        await generic.dispose()
        await default.dispose()


async def test_only_the_webhooks_pool_uses_generic_plans(app: Starlette) -> None:
    state: dict[str, Any] = app.state.lifespan_state
    engines = {"webhooks": state["deps"].engine, "api": state["api_deps"].engine}
    modes = {}
    for name, engine in engines.items():
        async with engine.connect() as connection:
            modes[name] = (await connection.execute(text("SHOW plan_cache_mode"))).scalar_one()
    assert modes == {"webhooks": "force_generic_plan", "api": "auto"}
