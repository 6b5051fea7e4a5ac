"""The async engine and statements run on the driver itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import TextClause

from persistence.bind_processors import bind_processors
from persistence.errors import is_outage


def async_url(url: str) -> str:
    """`postgresql://...` (what users configure) as the asyncpg driver URL SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


DEFAULT_POOL_SIZE = 16
# PostgreSQL ends a session of ours that sits inside a transaction without a statement this long: the
# backstop for a transaction a bug left open (a leaked export held its connection and its locks for
# good). Nothing of ours idles that long in a transaction on purpose: writes are single statements or
# short transactions, and an export only pauses while its client is not reading.
DEFAULT_IDLE_IN_TRANSACTION_SECONDS = 60.0
# The API pool (GraphQL, exports, subscriptions) and the background pool (relay, sweeps,
# notifications, retention, access re-check) are separate engines beside the webhooks' pool, so a
# flood of expensive reads can take neither the webhooks' connections nor the relay's (issue 19).
DEFAULT_API_POOL_SIZE = 8
DEFAULT_BACKGROUND_POOL_SIZE = 6
# PostgreSQL cancels a statement on the API pool that runs longer (reads answer within milliseconds;
# this bounds what one expensive read can hold).
DEFAULT_READ_STATEMENT_TIMEOUT_SECONDS = 5.0
# Connections of a pool that webhook writes leave to the process's own reads (calltrax/runtime.py
# `write_gate`).
RESERVED_CONNECTIONS = 2


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = 0,
    idle_in_transaction_seconds: float = DEFAULT_IDLE_IN_TRANSACTION_SECONDS,
    statement_timeout_seconds: float = 0.0,
    generic_plans: bool = False,
    **kwargs: Any,
) -> AsyncEngine:
    """An asyncpg engine tuned for short requests.

    16 connections by default: on the 2-core machine 16 PostgreSQL backends did more work than 30 (the
    Dialpad bench: 1,100 -> 1,200 events/s, p99 47 -> 39 ms, with the runtime's write gate).

    No pre-ping: it costs a round trip on every checkout, and after a database restart SQLAlchemy
    invalidates the whole pool on the first disconnect error anyway (that one request answers 503).
    No overflow: overflow connections are closed on return, so bursts past the pool would open and
    close a connection per request; waiting briefly for a pooled one is cheaper.

    `idle_in_transaction_seconds` (0 = off) is PostgreSQL's idle_in_transaction_session_timeout;
    `statement_timeout_seconds` (0 = off) its statement_timeout, for every statement of this engine.

    `generic_plans`: PostgreSQL plans each prepared statement once per connection and reuses the plan
    (plan_cache_mode force_generic_plan) instead of choosing, execution by execution, between that
    and a plan for the values at hand. For the webhooks' statements, key lookups whose best plan does
    not depend on the values, re-planning was pure cost: the call-event statements' Bind step (where
    PostgreSQL plans) took about 30% of PostgreSQL's CPU per event, and with generic plans PostgreSQL
    spent 15% less CPU per event (bench/call_events.py, alternating runs: 4,169-4,187 -> 3,500-3,573
    us). Not for reads, whose best plan depends on the range and the tenant's size."""
    server_settings = {
        "application_name": "calltrax",
        # JIT off: compiling costs more than CallTrax's short queries save (the metrics statement
        # for a large tenant passed jit_above_cost and took +115 ms to compile, measured).
        "jit": "off",
        # The metrics breakdowns sort a range's calls (tens of thousands of rows for a large tenant):
        # at PostgreSQL's default 4MB those sorts spilled to disk. A sort takes what it needs, so
        # small queries are unchanged.
        "work_mem": "32MB",
        "idle_in_transaction_session_timeout": str(round(idle_in_transaction_seconds * 1000)),
        "statement_timeout": str(round(statement_timeout_seconds * 1000)),
    }
    if generic_plans:
        server_settings["plan_cache_mode"] = "force_generic_plan"
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={"timeout": 5, "server_settings": server_settings},
        **kwargs,
    )


class DriverStatement:
    """One fixed statement run on the asyncpg driver itself, for the hot paths.

    SQLAlchemy's per-execute work (parameter and result processing, its transaction bookkeeping)
    cost about 370 µs of CPU per lead on the intake statement (861 -> 490 µs measured). The SQL
    and bind processors are SQLAlchemy's own, compiled once; driver errors are re-raised as
    SQLAlchemy's DBAPIError/IntegrityError (the driver error kept as `.orig`, so
    `persistence.errors` finds its SQLSTATE either way).
    `fetchrow` runs alone (autocommit); inside a `unit_of_work` use the transaction's `fetchrow`
    / `fetch`, which run on its driver connection within its BEGIN ... COMMIT."""

    def __init__(self, statement: TextClause) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        self.sql = str(compiled)
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        processors = bind_processors(compiled)
        self._processors = tuple(processors.get(name) for name in self._names)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The statement's parameter names, in the order of the driver's $1, $2, ..."""
        return self._names

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional driver arguments for named `values`."""
        return [
            processor(values[name]) if processor is not None else values[name]
            for name, processor in zip(self._names, self._processors, strict=True)
        ]

    async def run(self, driver: Any, values: Mapping[str, Any], *, many: bool) -> Any:
        """Run on a driver (asyncpg) connection: every row when `many`, else the first row or None.

        Errors come back as SQLAlchemy's; the caller decides what an outage does to the connection."""
        args = self.arguments(values)
        try:
            if many:
                return await driver.fetch(self.sql, *args)
            return await driver.fetchrow(self.sql, *args)
        except Exception as error:
            raise translate_driver_error(self.sql, error) from error

    async def fetchrow(
        self, connection: AsyncConnection, values: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Run on `connection` (autocommit) and return the first row, or None."""
        raw = await connection.get_raw_connection()
        try:
            row: Mapping[str, Any] | None = await self.run(raw.driver_connection, values, many=False)
        except Exception as error:
            if is_outage(error):
                # SQLAlchemy never saw this failure: drop the connection so the pool reconnects.
                await connection.invalidate()
            raise
        return row


async def try_xact_lock(connection: AsyncConnection, key: int) -> bool:
    """Take advisory lock `key` until the transaction ends, or False when another session holds it."""
    row = await connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(row.scalar_one())


def json_value(value: Any) -> Any:
    """A json/jsonb column from a driver statement (the driver returns their text) as Python data."""
    return json.loads(value) if isinstance(value, str) else value


def translate_driver_error(sql: str, error: Exception) -> Exception:
    """A driver error as SQLAlchemy would have raised it (unique violations as IntegrityError)."""
    import asyncpg

    if isinstance(error, asyncpg.exceptions.IntegrityConstraintViolationError):
        return sa_exc.IntegrityError(sql, None, error)
    if isinstance(error, (asyncpg.exceptions.PostgresError, asyncpg.exceptions.InterfaceError)):
        return sa_exc.DBAPIError(sql, None, error)
    return error
