"""Migrations: the round trip works and the migrated schema matches the models exactly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from persistence.db import create_engine
from persistence.migrate import downgrade, upgrade
from persistence.tables import Base


def _admin(url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_engine(url, pool_size=1, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """A separate, empty database so the round trip never disturbs the shared test schema."""
    name = f"calltrax_migrations_{uuid.uuid4().hex[:8]}"
    _admin(database_url, f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    _admin(database_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url, pool_size=1)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            names = {row[0] for row in rows}
        await engine.dispose()
        return names

    return asyncio.run(run())


def _differences(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(url, pool_size=1)
        async with engine.connect() as connection:

            def compare(sync: Connection) -> list[object]:
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            found = await connection.run_sync(compare)
        await engine.dispose()
        return found

    return asyncio.run(run())


def test_upgrade_downgrade_upgrade_round_trip(scratch_database: str) -> None:
    upgrade(scratch_database)
    assert set(Base.metadata.tables) <= _tables(scratch_database)
    downgrade(scratch_database, "base")
    assert _tables(scratch_database) == {"alembic_version"}
    upgrade(scratch_database)
    assert set(Base.metadata.tables) <= _tables(scratch_database)


def test_migrated_schema_matches_the_models(scratch_database: str) -> None:
    upgrade(scratch_database)
    assert _differences(scratch_database) == []
