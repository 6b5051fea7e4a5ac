"""A large export streams: rows leave while the cursor is still open, and memory stays flat."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import serve

ROWS = 150_000
# Buffering 150k rows (Row objects, then CSV text) would cost a few hundred MB.
RSS_BOUND_MB = 50

BULK_LEADS = text(
    """
    WITH made AS (
        INSERT INTO contacts (tenant_id, phone, email, name, city)
        SELECT :tenant_id, '+1555' || lpad(g::text, 9, '0'), 'bulk' || g || '@example.com',
               'Bulk Person ' || g, 'Perth'
        FROM generate_series(1, :rows) AS g
        RETURNING id
    )
    INSERT INTO leads (tenant_id, contact_id, source, status, notes, created_at)
    SELECT :tenant_id, id, 'bulk', 'new', 'Wants a quote, soon',
           now() - random() * interval '30 days'
    FROM made
    """
)

EXPORT_CURSOR = text(
    """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND query LIKE '%export_contact%'
      AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()
    """
)


async def bulk_leads(engine: AsyncEngine, tenant_id: UUID, rows: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(BULK_LEADS, {"tenant_id": tenant_id, "rows": rows})
        await connection.execute(text("ANALYZE contacts, leads"))


def rss_bytes() -> int:
    """Resident set size of this process (which runs the server too)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples RSS every few milliseconds on a thread (the event loop is busy serving the export)."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
async def test_a_large_export_streams_while_its_cursor_is_open_in_flat_memory(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    admin = await make_user("admin")
    await bulk_leads(engine, tenant.id, ROWS)
    async with serve(make_app()) as base_url, httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        # Warm up imports, pools and caches so the baseline is the steady state.
        warm = await http.get("/export/leads.csv", params={"search": "nobody"}, headers=admin.headers)
        assert warm.status_code == 200
        before = rss_bytes()
        with PeakRss() as memory:
            async with http.stream("GET", "/export/leads.csv", headers=admin.headers) as response:
                assert response.status_code == 200
                chunks = response.aiter_raw()
                received = await anext(chunks)
                # Not reading on: the server fills the socket and waits, its cursor still open.
                await asyncio.sleep(0.3)
                async with engine.connect() as connection:
                    assert (await connection.execute(EXPORT_CURSOR)).scalar_one() == 1
                lines = received.count(b"\n")
                async for chunk in chunks:
                    lines += chunk.count(b"\n")
        async with engine.connect() as connection:
            assert (await connection.execute(EXPORT_CURSOR)).scalar_one() == 0
    assert lines == ROWS + 1
    growth_mb = (memory.peak - before) / 2**20
    assert growth_mb < RSS_BOUND_MB, f"RSS grew {growth_mb:.0f} MB streaming {ROWS} rows"
