"""CSV export of a million leads over real HTTP: rows/s, MB/s, time to first byte and the server's memory.

Bulk-inserts `--rows` leads (with contacts) into a fresh tenant with generate_series, starts
`calltrax serve` (one uvicorn worker) against DATABASE_URL, streams `GET /export/leads.csv` and samples
the server's resident memory (VmRSS, every 20 ms) before and during the download. Memory that stays
flat while the row count grows is the point; the tenant is removed afterwards (unless --keep).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/export.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import free_port, start_server, wait_ready  # noqa: E402
from calltrax.tokens import issue_token  # noqa: E402
from domain.roles import Role  # noqa: E402
from persistence import tenants as tenant_store  # noqa: E402
from persistence import users as user_store  # noqa: E402
from persistence.db import create_engine  # noqa: E402
from persistence.migrate import upgrade  # noqa: E402

BULK_LEADS = text(
    """
    WITH made AS (
        INSERT INTO contacts (tenant_id, phone, email, name, city)
        SELECT :tenant_id, '+1555' || lpad(g::text, 9, '0'), 'bulk' || g || '@example.com',
               'Bulk Person ' || g, 'Perth'
        FROM generate_series(CAST(:low AS integer), CAST(:high AS integer)) AS g
        RETURNING id
    )
    INSERT INTO leads (tenant_id, contact_id, source, status, notes, created_at, first_attempt_at)
    SELECT :tenant_id, id, 'bulk', 'new', 'Wants a quote, soon', t, t + interval '93 seconds'
    FROM (SELECT id, now() - random() * interval '90 days' AS t FROM made) AS timed
    """
)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of a process from /proc (VmRSS now, VmHWM the peak since it started), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


class Sampler:
    """The server's peak VmRSS while the download runs (a thread: the client loop is busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def run(args: argparse.Namespace) -> int:
    database_url = args.database_url
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url, pool_size=2)
    secret = secrets.token_urlsafe(48)
    slug = f"bench-export-{secrets.token_hex(4)}"
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection, name=f"Bench {slug}", slug=slug, timezone="Australia/Perth"
        )
        assert tenant is not None
        user = await user_store.upsert_user(
            connection,
            user_id=slug,
            email=f"{slug}@example.com",
            name="Bench",
            role=Role.CLIENT,
            tenant_id=tenant.id,
        )
    token = issue_token(secret, subject=user.id, email=user.email, role="client")
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        step = 100_000
        for low in range(1, args.rows + 1, step):
            async with engine.begin() as connection:
                await connection.execute(
                    BULK_LEADS, {"tenant_id": tenant.id, "low": low, "high": min(args.rows, low + step - 1)}
                )
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE contacts, leads"))
        print(f"inserted {args.rows:,} leads in {time.perf_counter() - started:.1f} s")

        port = free_port()
        server = start_server(database_url, port, jwt_secret=secret)
        base_url = f"http://127.0.0.1:{port}"
        await wait_ready(base_url)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
            # One small export first, so imports and pools are warm and "before" is the steady state.
            warm = await http.get("/export/leads.csv", params={"search": "nobody"}, headers=headers)
            assert warm.status_code == 200, warm.text
            before = rss_mb(server.pid)
            lines = size = 0
            with Sampler(server.pid) as sampler:
                started = time.perf_counter()
                async with http.stream("GET", "/export/leads.csv", headers=headers) as response:
                    assert response.status_code == 200, await response.aread()
                    first_byte: float | None = None
                    async for chunk in response.aiter_raw():
                        if first_byte is None:
                            first_byte = time.perf_counter() - started
                        lines += chunk.count(b"\n")
                        size += len(chunk)
                elapsed = time.perf_counter() - started
        rows = lines - 1
        print(f"exported {rows:,} rows ({size / 2**20:.0f} MB) in {elapsed:.1f} s")
        print(
            f"  {rows / elapsed:,.0f} rows/s, {size / 2**20 / elapsed:.1f} MB/s, first byte after {first_byte:.3f} s"
        )
        print(
            f"  server RSS: before {before:.0f} MB, peak during export {sampler.peak:.0f} MB "
            f"(+{sampler.peak - before:.0f} MB), after {rss_mb(server.pid):.0f} MB"
        )
        if rows != args.rows:
            print(f"  MISMATCH: expected {args.rows:,} rows")
            return 1
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
                await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="leave the tenant and its leads in the database")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
