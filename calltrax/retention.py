"""The retention task: prunes event rows older than the retention period, hourly."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.deps import Deps
from services.prune_events import prune_events

log = logging.getLogger(__name__)


class RetentionTask:
    """Runs `prune_events` once at start and then every `interval_seconds` (several processes may
    run it: deleting the same old rows twice is harmless)."""

    def __init__(self, deps: Deps, *, retention_days: int, interval_seconds: float = 3600.0) -> None:
        self._deps = deps
        self._retention_days = retention_days
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="calltrax-event-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                pruned = await prune_events(self._deps, retention_days=self._retention_days)
                if pruned:
                    log.info("pruned %d event rows older than %d days", pruned, self._retention_days)
            except Exception:
                log.warning("event retention failed; retrying next period", exc_info=True)
            await asyncio.sleep(self._interval)
