"""CPU accounting for the load benchmarks: seconds used by the server and its PostgreSQL backends."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each process (Linux /proc); processes that are gone are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings; processes born in between count from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


async def backend_pids(engine: AsyncEngine) -> list[int]:
    """PostgreSQL backends serving the app (its pool names itself `calltrax`), for CPU accounting."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name = 'calltrax' AND datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return [row.pid for row in rows]
