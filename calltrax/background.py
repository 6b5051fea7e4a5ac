"""The one supervisor of the background loops each server process runs: the SLA and stage sweeps, the
notification dispatcher and sender, and event retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from calltrax.settings import Settings
from domain.notifications import RetryPolicy
from domain.ports import NotificationSender
from services.deps import Deps
from services.notifications import deliver_due_notifications, dispatch_notifications
from services.prune_events import prune_events
from services.sla_alerts import alert_breached_leads
from services.stage_sweep import restage_leads

log = logging.getLogger(__name__)

SLA_BATCH = 500
STAGE_BATCH = 500
DELIVERY_BATCH = 20
ERROR_PAUSE_SECONDS = 1.0
# Event retention prunes once at start, then hourly.
RETENTION_SECONDS = 3600.0


class BackgroundTasks:
    """Started and stopped by the app's lifespan. Every process runs all the loops: the SLA and stage
    sweeps take a PostgreSQL advisory lock per sweep (one process sweeps at a time), the dispatcher locks
    each tenant's cursor row, and senders claim deliveries with SKIP LOCKED, so any number of
    processes cooperate without doing anything twice. Retention may run in several processes at once:
    deleting the same old event rows twice is harmless."""

    def __init__(self, deps: Deps, settings: Settings, sender: NotificationSender) -> None:
        self._deps = deps
        self._settings = settings
        self._sender = sender
        self._policy = RetryPolicy(
            base_seconds=settings.notification_backoff_seconds,
            cap_seconds=settings.notification_backoff_cap_seconds,
        )
        self._queued = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(
                self._loop("notification-dispatch", self._dispatch, self._settings.notification_poll_seconds)
            ),
            asyncio.create_task(self._deliver_loop(), name="calltrax-notification-deliver"),
            asyncio.create_task(self._loop("event-retention", self._prune, RETENTION_SECONDS)),
        ]
        if self._settings.sla_sweep_seconds > 0:
            self._tasks.append(
                asyncio.create_task(self._loop("sla-sweep", self._sweep, self._settings.sla_sweep_seconds))
            )
        if self._settings.stage_sweep_seconds > 0:
            self._tasks.append(
                asyncio.create_task(
                    self._loop("stage-sweep", self._restage, self._settings.stage_sweep_seconds)
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _loop(self, name: str, step: Callable[[], Awaitable[bool]], interval: float) -> None:
        """Run `step` every `interval` seconds; again at once while it reports more work."""
        while True:
            try:
                more = await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is down or a statement failed: log it and keep the loop alive.
                log.exception("background %s failed; retrying", name)
                more = False
            if not more:
                await asyncio.sleep(interval)

    async def _sweep(self) -> bool:
        result = await alert_breached_leads(self._deps, limit=SLA_BATCH)
        if result.alerted:
            log.info("SLA breached", extra={"leads": result.alerted})
        return result.alerted == SLA_BATCH

    async def _restage(self) -> bool:
        result = await restage_leads(self._deps, limit=STAGE_BATCH)
        if result.moved:
            log.info("pipeline stages moved", extra={"leads": result.moved})
        return result.moved == STAGE_BATCH

    async def _prune(self) -> bool:
        days = self._settings.event_retention_days
        pruned = await prune_events(self._deps, retention_days=days)
        if pruned:
            log.info("pruned %d event rows older than %d days", pruned, days)
        return False

    async def _dispatch(self) -> bool:
        if await dispatch_notifications(self._deps):
            self._queued.set()
        return False

    async def _deliver_loop(self) -> None:
        while True:
            try:
                sent = await deliver_due_notifications(
                    self._deps, sender=self._sender, policy=self._policy, limit=DELIVERY_BATCH
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification delivery failed; retrying")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if sent:
                continue
            # Idle: wake when the dispatcher queues something, else poll for retries coming due.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), timeout=self._settings.notification_poll_seconds)
            self._queued.clear()
