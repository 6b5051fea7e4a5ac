"""`calltrax demo` loads a consistent data set through the real use cases, once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.demo import DEMO_TENANTS, load_demo


async def test_demo_loads_three_tenants_with_consistent_leads_and_calls(app, engine: AsyncEngine) -> None:
    deps = app.state.lifespan_state["deps"]
    messages: list[str] = []
    totals = await load_demo(deps, progress=messages.append, leads=90, calls_wanted=250, days=10, seed=3)

    assert totals["tenants"] == 3
    assert totals["leads"] == 90
    assert totals["calls"] > 100
    assert any("leads" in message for message in messages)
    async with engine.connect() as connection:
        tenants = (
            await connection.execute(text("SELECT slug, timezone, status FROM tenants ORDER BY slug"))
        ).all()
        facts = (
            await connection.execute(
                text(
                    """
                    SELECT count(*) FILTER (WHERE first_attempt_at < created_at) AS attempt_before_lead,
                           count(*) FILTER (WHERE first_attempt_at IS NOT NULL) AS attempted,
                           count(*) FILTER (WHERE status = 'booked') AS booked,
                           count(*) FILTER (WHERE status = 'booked' AND booked_at IS NULL) AS booked_without_time
                    FROM leads
                    """
                )
            )
        ).one()
        linked = (
            await connection.execute(text("SELECT count(*) FROM calls WHERE lead_id IS NOT NULL"))
        ).scalar_one()
    assert {row.slug for row in tenants} == {tenant.slug for tenant in DEMO_TENANTS}
    assert {row.timezone for row in tenants} == {tenant.timezone for tenant in DEMO_TENANTS}
    assert {row.status for row in tenants} == {"active"}
    assert facts.attempt_before_lead == 0
    assert facts.attempted > 45
    assert facts.booked > 0
    assert facts.booked_without_time == 0
    assert linked > 100

    with pytest.raises(FileExistsError):
        await load_demo(deps, progress=messages.append, leads=10, calls_wanted=10, days=2)
