"""Stage sweep cost: the sweep's query plan, an idle sweep over many open leads in their right
columns, and leads restaged per second when a day's worth age into the next column, on the
database in DATABASE_URL (use a scratch database: it is migrated and written to)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime

from sqlalchemy import text

from calltrax.relay import EventRelay
from domain.ports import SystemClock
from domain.tenants import TenantSettings
from persistence import tenants as tenant_store
from persistence.db import create_engine
from persistence.lead_stages import _RESTAGE, stage_sql
from persistence.migrate import upgrade
from services.deps import Deps
from services.stage_sweep import restage_leads


class _NoBus:
    async def publish(self, event: object) -> None:
        return None


async def run(url: str, *, leads: int, tenants: int, ageing: int) -> None:
    engine = create_engine(url, pool_size=4)
    stamp = time.time_ns()
    async with engine.begin() as connection:
        started = time.perf_counter()
        for number in range(tenants):
            tenant = await tenant_store.insert_tenant(
                connection,
                name=f"Bench {number}",
                slug=f"bench-{stamp}-{number}",
                timezone="UTC",
                settings=TenantSettings(),
            )
            assert tenant is not None
            contact = (
                await connection.execute(
                    text("INSERT INTO contacts (tenant_id, email) VALUES (:t, :e) RETURNING id"),
                    {"t": tenant.id, "e": f"bench-{stamp}@example.com"},
                )
            ).scalar_one()
            # Open leads spread over 30 days, each in the column of its age (as the sweep leaves them);
            # `ageing` of them in the first tenant sit just past the first bound with stage follow_up_1.
            await connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, created_at, status, stage) "
                    "SELECT :t, :c, now() - g * (interval '30 days' / :n), "
                    "CASE WHEN g % 5 = 0 THEN 'booked' ELSE 'new' END, NULL "
                    "FROM generate_series(1, :n) g"
                ),
                {"t": tenant.id, "c": contact, "n": leads // tenants},
            )
            if number == 0:
                await connection.execute(
                    text(
                        "INSERT INTO leads (tenant_id, contact_id, created_at, stage) "
                        "SELECT :t, :c, now() - interval '1 day' - g * interval '1 second', 'follow_up_1' "
                        "FROM generate_series(1, :n) g"
                    ),
                    {"t": tenant.id, "c": contact, "n": ageing},
                )
        await connection.execute(
            text(
                "UPDATE leads AS l SET stage = "
                + stage_sql(created_at="l.created_at", settings="t.settings", now="now()")
                + " FROM tenants AS t WHERE t.id = l.tenant_id AND l.status IN ('new', 'contacted')"
                " AND l.stage IS NULL"
            )
        )
        print(
            f"inserted {leads:,} leads over {tenants} tenants (80% open) + {ageing:,} due "
            f"in {time.perf_counter() - started:.1f} s"
        )
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE leads"))
        await connection.execute(text("ANALYZE tenants"))
        plan = await connection.execute(
            text("EXPLAIN (ANALYZE, COSTS OFF) " + str(_RESTAGE)), {"now": datetime.now(UTC), "limit": 500}
        )
        print("plan of one sweep batch:")
        for row in plan:
            print("   ", row[0])
        await connection.rollback()
    relay = EventRelay(engine, _NoBus())  # type: ignore[arg-type]
    deps = Deps(engine=engine, publisher=relay, clock=SystemClock(), tokens=None)
    started = time.perf_counter()
    moved = 0
    while True:
        result = await restage_leads(deps, limit=500)
        moved += result.moved
        if result.moved < 500:
            break
    elapsed = time.perf_counter() - started
    print(f"restaged {moved:,} leads in {elapsed:.2f} s = {moved / elapsed:,.0f} leads/s (batches of 500)")
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        await restage_leads(deps, limit=500)
        timings.append((time.perf_counter() - started) * 1000)
    print(f"an idle sweep over {leads:,} leads: median {sorted(timings)[2]:.1f} ms of 5")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--ageing", type=int, default=5_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set DATABASE_URL (a scratch database; it is migrated and written to)")
    upgrade(args.database_url)
    asyncio.run(run(args.database_url, leads=args.leads, tenants=args.tenants, ageing=args.ageing))


if __name__ == "__main__":
    main()
