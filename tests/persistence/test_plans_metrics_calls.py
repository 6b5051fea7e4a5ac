"""The plans that matter for the metrics statement and the call-event statement, on a seeded database:
the metrics read each tenant's period from the covering metric indexes (and never join a lead to its
calls), a call event finds its rows by key. Plan shape only (index names, no Seq Scan on the big
tables), so a change that loses an index fails here, not in production."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.business_hours import parse_hours
from domain.tenants import DEFAULT_BUSINESS_HOURS
from persistence.calls import _UPDATE_CALL, PROJECTED_COLUMNS, CallContact, _update_params
from persistence.metrics import METRICS_STATEMENT, MetricsRequest, metrics_parameters

BIG_TABLES = {"leads", "calls", "contacts", "call_events"}

# Several tenants with leads over 90 days and about five calls per lead (a quarter inbound, some
# missed), then ANALYZE: the planner sees tables where a whole-table scan would be the wrong plan.
_SEED = [
    """INSERT INTO contacts (tenant_id, phone)
       SELECT t.id, '+1' || (2000000000 + g + 100000 * t.n)::text
       FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tenants) AS t, generate_series(1, 1500) AS g""",
    """INSERT INTO leads (tenant_id, contact_id, created_at, source)
       SELECT c.tenant_id, c.id, now() - random() * interval '90 days', 'google' FROM contacts c""",
    """INSERT INTO calls (tenant_id, external_id, contact_id, lead_id, direction, status, started_at,
                          connected_at, ended_at, agent_id, is_primary_leg)
       SELECT l.tenant_id, l.id::text || '-' || g, l.contact_id, l.id,
              CASE WHEN g % 4 = 0 THEN 'inbound' ELSE 'outbound' END,
              CASE WHEN g % 4 = 0 THEN 'missed' WHEN g % 2 = 0 THEN 'completed' ELSE 'no_answer' END,
              l.created_at + g * interval '1 hour',
              CASE WHEN g % 4 = 2 THEN l.created_at + g * interval '1 hour' + interval '10 seconds' END,
              l.created_at + g * interval '1 hour' + interval '5 minutes', 'agent-' || (g % 3), true
       FROM leads l, generate_series(1, 5) AS g""",
]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _scans(plan_json: Any) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node that reads a table."""
    document = json.loads(plan_json) if isinstance(plan_json, str) else plan_json
    return [
        (node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in _nodes(document[0]["Plan"])
        if "Relation Name" in node
    ]


@pytest.fixture
async def seeded(engine: AsyncEngine, make_tenant) -> list[UUID]:
    tenants = [(await make_tenant(timezone="America/New_York")).tenant.id for _ in range(4)]
    async with engine.begin() as connection:
        # Bulk rows: the attempt-facts triggers (one refresh per call) are not what is tested here.
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in _SEED:
            await connection.execute(text(statement))
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        # As the bench and a settled database have it: the visibility map set, so index-only scans pay.
        await autocommit.execute(text("VACUUM ANALYZE leads, calls, contacts, tenants"))
    return tenants


def _request(tenant_id: UUID, now: datetime, *, details: bool, days: int = 30) -> MetricsRequest:
    return MetricsRequest(
        tenant_id=tenant_id,
        timezone="America/New_York",
        range_from=now - timedelta(days=days),
        range_to=now,
        sla_seconds=300,
        hours=parse_hours(DEFAULT_BUSINESS_HOURS),
        details=details,
    )


async def test_the_metrics_statement_reads_index_ranges_of_the_metric_indexes(
    engine: AsyncEngine, seeded: list[UUID]
) -> None:
    now = datetime.now(UTC)
    # The full metrics (range and previous period, breakdowns) and an overview of every tenant.
    batches = [
        [_request(seeded[0], now, details=True), _request(seeded[0], now - timedelta(days=30), details=True)],
        [_request(tenant, now, details=False) for tenant in seeded],
    ]
    for batch in batches:
        async with engine.connect() as connection:
            plan = (
                await connection.execute(
                    text("EXPLAIN (FORMAT JSON) " + METRICS_STATEMENT.text), metrics_parameters(batch, now)
                )
            ).scalar_one()
        scans = _scans(plan)
        tables = {(relation, index) for _, relation, index in scans}
        assert tables == {("leads", "ix_leads_metrics"), ("calls", "ix_calls_metrics")}, scans
        # Index-only: the facts the figures need are all in the indexes (no heap visit per row).
        assert {kind for kind, _, _ in scans} == {"Index Only Scan"}, scans


async def test_a_call_event_update_finds_its_rows_by_key(engine: AsyncEngine, seeded: list[UUID]) -> None:
    async with engine.connect() as connection:
        call = (
            await connection.execute(
                text("SELECT c.* FROM calls c WHERE c.tenant_id = :t AND c.direction = 'outbound' LIMIT 1"),
                {"t": seeded[0]},
            )
        ).one()
        columns: dict[str, object] = {name: getattr(call, name) for name in PROJECTED_COLUMNS}
        params = _update_params(None, columns, CallContact(contact_id=call.contact_id), None, "UPDATED", None)
        params.update(id=call.id, tenant_id=call.tenant_id, before_direction="outbound")
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        plan = await driver.fetchval(
            "EXPLAIN (FORMAT JSON) " + _UPDATE_CALL.sql, *_UPDATE_CALL.arguments(params)
        )
    scans = _scans(plan)
    assert scans, plan
    seq = [scan for scan in scans if scan[0] == "Seq Scan" and scan[1] in BIG_TABLES]
    assert seq == [], scans
    # The call by its primary key, its lead by the contact's newest lead, the served leads by contact.
    indexes = {index for _, _, index in scans}
    assert {"pk_calls", "ix_leads_contact_id_created_at"} <= indexes, scans
