"""Database errors classified by SQLSTATE and constraint name, never by class names or message text.

Every layer asks here: `is_outage` (answer 503 with Retry-After: the database is unreachable,
restarting, or a transient conflict that a retry resolves) and `unique_violation` (which unique
key refused a write). A driver or server upgrade renames classes and rewords messages; SQLSTATEs
and our constraint names stay, so a 409 or 503 cannot turn into a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

UNIQUE_VIOLATION = "23505"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
# Raised on purpose by our SQL function calltrax_abort() (migration 0012) when a statement must undo
# itself: a concurrent duplicate lead committed first. Class "CT" is none of PostgreSQL's.
LOST_RACE = "CT001"
# query_canceled: statement_timeout ran out (the API pool sets one, persistence/db.py).
QUERY_CANCELED = "57014"

# Worth a retry: the same request succeeds once the server is back or the other transaction is done.
_RETRY_SQLSTATES = frozenset(
    {
        SERIALIZATION_FAILURE,
        DEADLOCK_DETECTED,
        "57P01",  # admin_shutdown: the server is stopping, or pg_terminate_backend
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up or shutting down
        "53300",  # too_many_connections
        "55P03",  # lock_not_available
    }
)
# Class 08: connection exceptions (lost, refused, protocol failure).
_RETRY_CLASSES = frozenset({"08"})


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, the driver error SQLAlchemy wraps (`.orig`), and their causes, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        item = pending.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend([getattr(item, "orig", None), item.__cause__])


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL answered with, wherever in the chain the driver keeps it."""
    for item in _chain(error):
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def constraint_name(error: BaseException) -> str | None:
    """The name of the constraint that refused the statement (asyncpg reports it), or None."""
    for item in _chain(error):
        name = getattr(item, "constraint_name", None)
        if isinstance(name, str) and name:
            return name
    return None


def unique_violation(error: BaseException, constraint: str) -> bool:
    """Whether `error` is unique key `constraint` refusing a row."""
    return sqlstate(error) == UNIQUE_VIOLATION and constraint_name(error) == constraint


def is_lost_race(error: BaseException) -> bool:
    """Whether a statement undid itself because a concurrent duplicate committed first."""
    return sqlstate(error) == LOST_RACE


def _driver_connection_error(error: BaseException) -> bool:
    """asyncpg's errors for a connection it cannot use, which carry no SQLSTATE: "connection is
    closed" (InterfaceError itself; its subclasses, e.g. DataError for a value it cannot encode, are
    bugs), and its protocol state errors (InternalClientError: "another operation is in progress"
    when the server ended the session under an idle pooled connection). A new connection serves."""
    import asyncpg

    return type(error) is asyncpg.exceptions.InterfaceError or isinstance(
        error, asyncpg.exceptions.InternalClientError
    )


def _database_error(error: BaseException) -> bool:
    """Whether `error` came from the database or its driver (not, say, an HTTP client's OSError)."""
    import asyncpg

    return isinstance(
        error,
        sa_exc.DBAPIError
        | asyncpg.exceptions.PostgresError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.InternalClientError,
    )


def is_outage(error: BaseException) -> bool:
    """True when `error` is worth a retry (database unreachable, or a transient lock conflict), not a bug."""
    if isinstance(error, OSError | asyncio.TimeoutError | ConnectionError):
        return True
    # The pool had no connection to give within its timeout.
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if not _database_error(error):
        return False
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    for item in _chain(error):
        if isinstance(item, OSError | ConnectionError) or _driver_connection_error(item):
            return True
    code = sqlstate(error)
    return code is not None and (code in _RETRY_SQLSTATES or code[:2] in _RETRY_CLASSES)


def is_statement_timeout(error: BaseException) -> bool:
    """Whether PostgreSQL cancelled the statement (its statement_timeout ran out)."""
    return _database_error(error) and sqlstate(error) == QUERY_CANCELED
