"""One transaction: the change plus its event rows, committed together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import Unavailable
from domain.events import NewEvent
from persistence.db import is_outage
from persistence.tables import Event


class Transaction:
    """A connection inside an open transaction, collecting the tenants whose history grew."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.event_tenants: set[UUID] = set()

    async def record(self, *events: NewEvent) -> None:
        """Append events to their tenants' history in this transaction (seq is assigned after commit)."""
        if not events:
            return
        rows: list[dict[str, Any]] = [
            {"tenant_id": event.tenant_id, "type": event.type.value, "payload": event.payload}
            for event in events
        ]
        await self.connection.execute(insert(Event), rows)
        self.event_tenants.update(event.tenant_id for event in events)


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Transaction]:
    """Open a transaction; commit on success, roll back on error; an outage becomes `Unavailable`."""
    try:
        async with engine.begin() as connection:
            yield Transaction(connection)
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        raise


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
        raise


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only REPEATABLE READ transaction for long reads (exports): every batch sees one
    snapshot, and server-side cursors need a transaction. An outage becomes `Unavailable`."""
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            async with connection.begin():
                yield connection
    except Exception as error:
        if is_outage(error):
            raise Unavailable("the database is unavailable; retry shortly") from error
        raise
