"""Database errors are classified by SQLSTATE and constraint name, from real PostgreSQL errors
(through SQLAlchemy, through our driver statements, and raw from the driver)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.db import DriverStatement, create_engine
from persistence.errors import (
    DEADLOCK_DETECTED,
    LOST_RACE,
    SERIALIZATION_FAILURE,
    UNIQUE_VIOLATION,
    constraint_name,
    is_lost_race,
    is_outage,
    sqlstate,
    unique_violation,
)
from tests.conftest import serve
from tests.dialpad_samples import sample, sign

INSERT_CONTACT = "INSERT INTO contacts (tenant_id, phone, name) VALUES (:tenant_id, '+61430363930', 'Ann')"


async def failure(engine: AsyncEngine, sql: str, **params: Any) -> BaseException:
    async with engine.connect() as connection:
        with pytest.raises(exc.DBAPIError) as caught:
            await connection.execute(text(sql), params)
        return caught.value


async def test_a_real_unique_violation_names_its_key_and_is_no_outage(engine, make_tenant) -> None:
    tenant = await make_tenant()
    async with engine.begin() as connection:
        await connection.execute(text(INSERT_CONTACT), {"tenant_id": tenant.id})
    error = await failure(engine, INSERT_CONTACT, tenant_id=tenant.id)
    assert sqlstate(error) == UNIQUE_VIOLATION
    assert constraint_name(error) == "uq_contacts_tenant_id_phone"
    assert unique_violation(error, "uq_contacts_tenant_id_phone")
    assert not unique_violation(error, "uq_some_other_key")
    assert not is_outage(error)
    # The same through a driver statement (the hot paths), which re-raises as SQLAlchemy does.
    statement = DriverStatement(text(INSERT_CONTACT))
    async with engine.connect() as connection:
        with pytest.raises(exc.IntegrityError) as caught:
            await statement.fetchrow(connection, {"tenant_id": tenant.id})
    assert unique_violation(caught.value, "uq_contacts_tenant_id_phone")


async def test_a_real_serialization_failure_is_a_retry(engine, make_tenant) -> None:
    tenant = await make_tenant()
    rename = text("UPDATE tenants SET name = :name WHERE id = :id")
    async with engine.connect() as first, engine.connect() as second:
        await first.execution_options(isolation_level="REPEATABLE READ")
        await first.begin()
        await first.execute(text("SELECT name FROM tenants WHERE id = :id"), {"id": tenant.id})
        await second.execute(rename, {"name": "Second", "id": tenant.id})
        await second.commit()
        with pytest.raises(exc.DBAPIError) as caught:
            await first.execute(rename, {"name": "First", "id": tenant.id})
        await first.rollback()
    assert sqlstate(caught.value) == SERIALIZATION_FAILURE
    assert is_outage(caught.value)


async def test_a_real_deadlock_is_a_retry(engine, make_tenant) -> None:
    one, two = await make_tenant(), await make_tenant()
    touch = text("UPDATE tenants SET name = name WHERE id = :id")
    errors: list[BaseException] = []

    async def cross(a: Any, b: Any, started: asyncio.Event, other: asyncio.Event) -> None:
        async with engine.connect() as connection:
            try:
                await connection.begin()
                await connection.execute(touch, {"id": a})
                started.set()
                await other.wait()
                await connection.execute(touch, {"id": b})
                await connection.commit()
            except exc.DBAPIError as error:
                errors.append(error)
                await connection.rollback()

    first, second = asyncio.Event(), asyncio.Event()
    await asyncio.gather(cross(one.id, two.id, first, second), cross(two.id, one.id, second, first))
    assert len(errors) == 1
    assert sqlstate(errors[0]) == DEADLOCK_DETECTED
    assert is_outage(errors[0])


async def test_a_terminated_connection_is_a_retry_through_sqlalchemy_and_raw_from_the_driver(
    database_url: str, engine
) -> None:
    ours = create_engine(database_url, pool_size=1)
    try:
        async with ours.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await connection.commit()
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            async with engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await asyncio.sleep(0.2)
            # What `unit_of_work.transaction` meets first: the driver's own error, untranslated.
            with pytest.raises(Exception) as raw_error:
                await driver.transaction().start()
            assert is_outage(raw_error.value), repr(raw_error.value)
            with pytest.raises(exc.DBAPIError) as caught:
                await connection.execute(text("SELECT 1"))
            assert is_outage(caught.value)
    finally:
        await ours.dispose()


async def test_our_deliberate_abort_is_a_lost_race_and_bugs_are_no_outage(engine) -> None:
    error = await failure(engine, f"SELECT calltrax_abort('{LOST_RACE}', 'a concurrent duplicate won')")
    assert is_lost_race(error)
    assert not is_outage(error)
    syntax = await failure(engine, "SELEC 1")
    assert sqlstate(syntax) == "42601"
    assert not is_outage(syntax)
    assert not is_lost_race(syntax)
    # The driver refusing a value (asyncpg DataError, an InterfaceError subclass) is a bug, not an outage.
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        with pytest.raises(asyncpg.exceptions.DataError) as refused:
            await raw.driver_connection.fetchval("SELECT $1::int", "not a number")
    assert not is_outage(refused.value)
    # An error of something else (an HTTP client's lost connection) is not the database's outage.
    other = RuntimeError("a webhook target failed")
    other.__cause__ = ConnectionResetError()
    assert not is_outage(other)


async def test_the_dialpad_door_answers_503_never_500_while_connections_are_killed(
    make_app, make_tenant, engine, database_url: str
) -> None:
    tenant = await make_tenant()
    killer = await asyncpg.connect(
        database_url.replace("postgresql://", "postgres://"),
        server_settings={"application_name": "calltrax-test-killer"},
    )
    statuses: list[int] = []
    try:
        async with serve(make_app(redis_url=None)) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            stop = asyncio.Event()

            async def kill() -> None:
                while not stop.is_set():
                    await killer.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = 'calltrax' "
                        "AND pid <> pg_backend_pid()"
                    )
                    await asyncio.sleep(0.03)

            async def post(number: int) -> None:
                claims = sample("outbound-1-calling") | {"call_id": 1000 + number}
                answer = await http.post(
                    f"/webhooks/dialpad/{tenant.tenant.slug}",
                    content=sign(claims, "dialpad-secret-for-tests"),
                )
                statuses.append(answer.status_code)
                if answer.status_code == 503:
                    assert answer.headers.get("retry-after"), answer.headers

            killing = asyncio.create_task(kill())
            for start in range(0, 120, 8):
                await asyncio.gather(*(post(number) for number in range(start, start + 8)))
            stop.set()
            await killing
    finally:
        await killer.close()
        # The test pool's idle connections were killed too: start it afresh.
        await engine.dispose()
    assert 503 in statuses, statuses
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
