"""The stage sweep's plan on a tenant with many leads, half of them closed (so half the table's
stages are NULL): the open leads without a stage come from their own index and the due leads are
locked by primary key. (A stage that holds most open leads may still be read by a scan: its age
edge comes from the settings, a guess to the planner.) It used to read every lead each sweep, 50-60 ms of PostgreSQL CPU per 100,000 leads every 30 s, which
showed as the read pages' p99 (docs/benchmarks.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.lead_stages import _RESTAGE

LEADS = 6_000


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_the_stage_sweep_reads_leads_by_index_only(engine: AsyncEngine, make_tenant) -> None:
    tenant = await make_tenant()
    async with engine.begin() as connection:
        # Open leads already in the column of their age, and as many closed (stage NULL).
        await connection.execute(
            text(
                """
                WITH c AS (
                    INSERT INTO contacts (tenant_id, phone)
                    SELECT :t, '+1555' || lpad(i::text, 7, '0') FROM generate_series(1, :n) i
                    RETURNING id, phone
                )
                INSERT INTO leads (tenant_id, contact_id, status, stage, created_at)
                SELECT :t, c.id,
                       CASE WHEN right(c.phone, 1)::int % 2 = 0 THEN 'new' ELSE 'closed' END,
                       CASE WHEN right(c.phone, 1)::int % 2 = 0 THEN 'follow_up_4' END,
                       now() - interval '30 days'
                FROM c
                """
            ),
            {"t": tenant.id, "n": LEADS},
        )
    # Statistics as autovacuum keeps them: the suite's other tests leave dead rows behind (DELETE).
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE tenants, leads"))
    async with engine.begin() as connection:
        plan = (
            await connection.execute(
                text("EXPLAIN (FORMAT JSON) " + _RESTAGE.text), {"now": datetime.now(UTC), "limit": 500}
            )
        ).scalar_one()
    nodes = _nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    leads = [node for node in nodes if node.get("Relation Name") == "leads"]
    # The open leads without a stage come from their own index (a handful), not from every lead.
    unstaged = [
        node for node in leads if "stage IS NULL" in node.get("Filter", "") + node.get("Index Cond", "")
    ]
    assert not unstaged, plan
    assert any(node.get("Index Name") == "ix_leads_open_unstaged" for node in leads), plan
    # The due leads are locked by primary key, not found again by a scan of the open leads.
    locked = [
        node for node in nodes if "id = ANY" in node.get("Index Cond", "") + node.get("Recheck Cond", "")
    ]
    assert locked, plan
    assert not [
        node for node in leads if node["Node Type"] == "Seq Scan" and "stage" not in node.get("Filter", "")
    ], plan
