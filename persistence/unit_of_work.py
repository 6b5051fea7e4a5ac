"""One transaction: the change plus its event rows, committed together."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import QueryTimeout, Unavailable
from domain.events import NewEvent
from persistence.db import DriverStatement, translate_driver_error
from persistence.errors import is_outage, is_statement_timeout

T = TypeVar("T")


class EventLog:
    """The tenants whose history a piece of work grew: handed to the publisher once it has committed
    (`services.deps.Deps`), which numbers and publishes their new event rows."""

    def __init__(self) -> None:
        self.event_tenants: set[UUID] = set()

    def recorded_in_sql(self, *tenant_ids: UUID) -> None:
        """A statement of this work inserted event rows of these tenants itself (the hot paths'
        statements insert theirs with the change they record)."""
        self.event_tenants.update(tenant_ids)


class Transaction(EventLog):
    """A connection inside an open transaction, collecting the tenants whose history grew.

    SQLAlchemy statements go through `connection`; hot-path statements through `fetchrow` / `fetch`,
    straight to the driver connection. Both run inside the same BEGIN ... COMMIT."""

    def __init__(self, connection: AsyncConnection, driver: Any) -> None:
        super().__init__()
        self.connection = connection
        self._driver = driver
        # Users whose access (role, tenant, assignments, active) this transaction changed.
        self.access_changed: set[str] = set()

    async def fetchrow(
        self, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Run a driver statement in this transaction; its first row, or None."""
        row: Mapping[str, Any] | None = await statement.run(self._driver, values, many=False)
        return row

    async def fetch(self, statement: DriverStatement, values: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Run a driver statement in this transaction; every row."""
        rows: list[Mapping[str, Any]] = await statement.run(self._driver, values, many=True)
        return rows

    async def record(self, *events: NewEvent) -> None:
        """Append events to their tenants' history in this transaction (seq is assigned after commit)."""
        if not events:
            return
        await self.fetchrow(
            _RECORD_EVENTS,
            {
                "tenant_ids": [event.tenant_id for event in events],
                "types": [event.type.value for event in events],
                "payloads": [json.dumps(event.payload, separators=(",", ":")) for event in events],
            },
        )
        self.recorded_in_sql(*(event.tenant_id for event in events))


class Statements(EventLog):
    """A connection for work done in single driver statements, each atomic on its own (no
    BEGIN/COMMIT round trips: the lead intake, a known call's event). Driver statements only
    (`fetchrow`, or `DriverStatement.fetchrow` on `connection`): a SQLAlchemy execute on it would
    begin a transaction that is rolled back on return. A statement that inserts event rows says so
    with `recorded_in_sql`; they are published when the work ends."""

    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self.connection = connection

    async def fetchrow(
        self, statement: DriverStatement, values: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Run a driver statement on its own (it commits as it ends); its first row, or None."""
        return await statement.fetchrow(self.connection, values)


# One statement for any number of event rows (the webhook's hot path counts round trips).
_RECORD_EVENTS = DriverStatement(
    text(
        "INSERT INTO events (tenant_id, type, payload) "
        "SELECT * FROM unnest(CAST(:tenant_ids AS uuid[]), CAST(:types AS text[]), CAST(:payloads AS jsonb[]))"
    )
)


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """Open a transaction; commit on success, roll back on error; an outage becomes `Unavailable`.

    The driver connection runs BEGIN/COMMIT itself and SQLAlchemy's connection stays in autocommit,
    so SQLAlchemy statements and driver statements share the one database transaction. A connection
    whose transaction could not be ended cleanly is dropped, never pooled mid-transaction."""
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            database_tx = driver.transaction()
            try:
                await database_tx.start()
            except BaseException as error:
                await _discard(connection)
                if isinstance(error, Exception):
                    # BEGIN cannot fail on a healthy connection: this pooled one died while idle (the
                    # driver may only notice as a protocol state error with no SQLSTATE).
                    raise Unavailable("the database is unavailable; retry shortly") from error
                raise
            try:
                yield Transaction(connection, driver)
            except BaseException as error:
                # The original error is what the caller needs; a failed rollback only costs the connection.
                lost = driver.is_closed()
                try:
                    if lost:
                        await _discard(connection)
                    else:
                        await database_tx.rollback()
                except BaseException:
                    lost = True
                    await _discard(connection)
                if lost and isinstance(error, Exception):
                    # The connection died under the statement (the driver may then report a protocol
                    # state error with no SQLSTATE): a retry on a new connection is the answer.
                    raise Unavailable("the database is unavailable; retry shortly") from error
                raise
            try:
                if driver.is_closed():
                    raise translate_driver_error("COMMIT", ConnectionError("the connection was lost"))
                await database_tx.commit()
            except BaseException as error:
                await _discard(connection)
                if isinstance(error, Exception):
                    raise translate_driver_error("COMMIT", error) from error
                raise
            if driver.is_in_transaction():
                await _discard(connection)
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        _raise_if_timed_out(error)
        raise


def _raise_if_timed_out(error: Exception) -> None:
    """The statement timeout (the API pool's) ending a statement is the caller's answer, not a bug."""
    if is_statement_timeout(error):
        raise QueryTimeout(
            "the query ran past the statement timeout and was cancelled; ask for fewer rows"
        ) from error


async def _discard(connection: AsyncConnection) -> None:
    """Drop a connection whose transaction state is unknown, so the pool never hands it out again."""
    if not connection.invalidated:
        await connection.invalidate()


@asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads, in autocommit: no BEGIN/ROLLBACK round trips around each read (each
    statement sees its own snapshot). An outage becomes `Unavailable`."""
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        _raise_if_timed_out(error)
        raise


@asynccontextmanager
async def statements(engine: AsyncEngine) -> AsyncIterator[Statements]:
    """A connection for single driver statements that write (see `Statements`); an outage becomes
    `Unavailable`. The driver runs each statement on its own (it commits as it ends) and SQLAlchemy
    never begins a transaction on it, so it is not switched to AUTOCOMMIT: that switch and its reset
    on return cost ~70 us of CPU per lead (measured), a few per cent of the intake."""
    try:
        async with engine.connect() as connection:
            yield Statements(connection)
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        raise


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only REPEATABLE READ transaction for long reads (exports): every batch sees one
    snapshot, and server-side cursors need a transaction. An outage becomes `Unavailable`.

    However the reader stops (an error, a cancelled request, a generator closed early), the
    transaction is rolled back and the connection returned to the pool, shielded from
    cancellation: a connection left `idle in transaction` is lost to every tenant until
    PostgreSQL's idle_in_transaction_session_timeout ends it."""
    try:
        connection = await engine.connect()
        try:
            await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            await connection.begin()
            yield connection
        finally:
            with anyio.CancelScope(shield=True):
                await _release(connection)
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        _raise_if_timed_out(error)
        raise


async def snapshot_batches(
    engine: AsyncEngine, stream: Callable[[AsyncConnection], AsyncGenerator[T, None]]
) -> AsyncGenerator[T, None]:
    """What `stream` yields on a `read_snapshot` connection; closing this generator closes `stream`
    (its cursor) first, then rolls back and releases the connection."""
    async with read_snapshot(engine) as connection, aclosing(stream(connection)) as rows:
        async for item in rows:
            yield item


async def _release(connection: AsyncConnection) -> None:
    """Roll back and return `connection`; one whose rollback fails is dropped instead."""
    try:
        await connection.close()
    except Exception:
        await connection.invalidate()
        await connection.close()
