"""`calltrax demo` loads a consistent data set through the real use cases, once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.demo import DEMO_TENANTS, load_demo
from domain.business_hours import next_open, parse_hours
from domain.roles import Principal, Role
from services.metrics import tenant_metrics


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

    # Agents call in each tenant's business hours (a few after hours); leads also come after hours.
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    """
                    SELECT t.id, t.slug, t.timezone, l.created_at, c.started_at, c.direction
                    FROM calls c JOIN tenants t ON t.id = c.tenant_id LEFT JOIN leads l ON l.id = c.lead_id
                    """
                )
            )
        ).all()
    hours = {tenant.slug: parse_hours(tenant.hours) for tenant in DEMO_TENANTS}

    def in_hours(row, moment) -> bool:
        return bool(next_open(moment, row.timezone, hours[row.slug]) == moment)

    outbound = [row for row in rows if row.direction == "outbound"]
    in_hours_share = sum(in_hours(row, row.started_at) for row in outbound) / len(outbound)
    assert 0.85 <= in_hours_share < 1.0, in_hours_share
    assert any(not in_hours(row, row.created_at) for row in outbound if row.created_at is not None)
    admin = Principal(user_id="demo-test", email="admin@example.com", role=Role.ADMIN)
    for tenant_id in {row.id for row in rows}:
        metrics = await tenant_metrics(deps, actor=admin, tenant_id=tenant_id)
        assert metrics.business_hours.median_seconds, "agents call in business hours: the median is not 0"

    with pytest.raises(FileExistsError):
        await load_demo(deps, progress=messages.append, leads=10, calls_wanted=10, days=2)
