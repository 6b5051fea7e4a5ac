"""The async engine, and telling a database outage apart from a bug."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """`postgresql://...` (what users configure) as the asyncpg driver URL SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 30, max_overflow: int = 0, **kwargs: Any) -> AsyncEngine:
    """An asyncpg engine tuned for short requests.

    No pre-ping: it costs a round trip on every checkout, and after a database restart SQLAlchemy
    invalidates the whole pool on the first disconnect error anyway (that one request answers 503).
    No overflow: overflow connections are closed on return, so bursts past the pool would open and
    close a connection per request; waiting briefly for a pooled one is cheaper."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_timeout=5,
        connect_args={"timeout": 5, "server_settings": {"application_name": "calltrax"}},
        **kwargs,
    )


def is_outage(error: BaseException) -> bool:
    """True when `error` is worth a retry (database unreachable, or a transient lock conflict), not a bug."""
    if isinstance(error, (OSError, asyncio.TimeoutError, ConnectionError)):
        return True
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = getattr(error, "orig", None)
        name = type(original).__name__ if original is not None else ""
        cause = original.__cause__ if original is not None else None
        if isinstance(cause, (OSError, ConnectionError)):
            return True
        return name in {
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "ConnectionFailureError",
            "InterfaceError",
            "TooManyConnectionsError",
            "AdminShutdownError",
            "CrashShutdownError",
            # Transient conflicts: the same request succeeds when retried, so answer "retry" (503).
            "DeadlockDetectedError",
            "SerializationError",
        }
    return False
