"""SLA sweep cost: the sweep's query plan and leads alerted per second over a table of mostly
attempted leads (the common case), on the database in DATABASE_URL (use a scratch database)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from calltrax.relay import EventRelay
from domain.ports import SystemClock
from domain.tenants import TenantSettings
from persistence import tenants as tenant_store
from persistence.db import create_engine
from persistence.migrate import upgrade
from persistence.sla import _MARK_BREACHED
from services.deps import Deps
from services.sla_alerts import alert_breached_leads


class _NoBus:
    async def publish(self, event: object) -> None:
        return None


async def run(url: str, *, leads: int, overdue: int) -> None:
    engine = create_engine(url, pool_size=4)
    async with engine.begin() as connection:
        tenant = await tenant_store.insert_tenant(
            connection,
            name="Bench",
            slug=f"bench-{time.time_ns()}",
            timezone="UTC",
            settings=TenantSettings(),
        )
        assert tenant is not None
        contact = (
            await connection.execute(
                text("INSERT INTO contacts (tenant_id, email) VALUES (:t, :e) RETURNING id"),
                {"t": tenant.id, "e": f"bench-{time.time_ns()}@example.com"},
            )
        ).scalar_one()
        started = time.perf_counter()
        # Attempted leads (history) and overdue unattempted ones, all older than the SLA.
        await connection.execute(
            text(
                "INSERT INTO leads (tenant_id, contact_id, created_at, first_attempt_at) "
                "SELECT :t, :c, now() - interval '1 hour' - g * interval '1 second', "
                "CASE WHEN g <= :overdue THEN NULL ELSE now() END FROM generate_series(1, :n) g"
            ),
            {"t": tenant.id, "c": contact, "n": leads, "overdue": overdue},
        )
        print(f"inserted {leads:,} leads ({overdue:,} overdue) in {time.perf_counter() - started:.1f} s")
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE leads"))
        plan = await connection.execute(
            text("EXPLAIN " + str(_MARK_BREACHED)),
            {"now": datetime.now(UTC) + timedelta(seconds=1), "limit": 500},
        )
        print("plan of one sweep batch:")
        for row in plan:
            print("   ", row[0])
        await connection.rollback()
    relay = EventRelay(engine, _NoBus())  # type: ignore[arg-type]
    deps = Deps(engine=engine, publisher=relay, clock=SystemClock(), tokens=None)
    started = time.perf_counter()
    alerted = 0
    while True:
        result = await alert_breached_leads(deps, limit=500)
        alerted += result.alerted
        if result.alerted < 500:
            break
    elapsed = time.perf_counter() - started
    print(f"alerted {alerted:,} leads in {elapsed:.2f} s = {alerted / elapsed:,.0f} leads/s (batches of 500)")
    started = time.perf_counter()
    await alert_breached_leads(deps, limit=500)
    print(f"an idle sweep over {leads:,} leads: {(time.perf_counter() - started) * 1000:.1f} ms")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--overdue", type=int, default=5_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set DATABASE_URL (a scratch database; it is migrated and written to)")
    upgrade(args.database_url)
    asyncio.run(run(args.database_url, leads=args.leads, overdue=args.overdue))


if __name__ == "__main__":
    main()
