"""Retention: event rows older than the retention period are deleted."""

from __future__ import annotations

from datetime import timedelta

from persistence.events import prune_before
from services.deps import Deps


async def prune_events(deps: Deps, *, retention_days: int) -> int:
    """Delete numbered event rows older than `retention_days`; returns how many went."""
    cutoff = deps.clock.now() - timedelta(days=retention_days)
    async with deps.unit_of_work() as tx:
        return await prune_before(tx.connection, cutoff)
