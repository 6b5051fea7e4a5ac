"""The lead intake's plan (persistence/sql/lead_ingest.sql) on a seeded database: every read of leads,
contacts and webhooks is an index lookup, for the plan the driver runs first (custom, from the
values) and for the generic one it may switch to after five executions. (Tenants are a handful of
rows here, which a scan reads fastest; the join to them is by primary key.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import EventType
from domain.leads import LeadStatus
from persistence.contacts import ContactFields, contact_values
from persistence.db import json_value
from persistence.leads import INGEST

SEEDED_TENANTS = 3
LEADS_PER_TENANT = 3_000
# What the intake looks up, and the indexes that may serve each lookup (the inserts' ON CONFLICT
# arbiters need no scan either).
LOOKUPS = {
    "the token's webhook": {"uq_lead_webhooks_token"},
    "an earlier lead with the key": {"uq_leads_tenant_id_idempotency_key"},
    "an earlier lead with the source id": {"uq_leads_tenant_id_external_id"},
    "a contact by email": {"ix_contacts_tenant_id_email", "uq_contacts_tenant_id_email_phoneless"},
}
PHONE_LOOKUP = {"a contact by phone": {"uq_contacts_tenant_id_phone", "ix_contacts_phone"}}
READ_TABLES = {"leads", "contacts", "lead_webhooks"}
# Old tokens of the first tenant (rotated away), so the webhooks are many as in production.
OLD_WEBHOOKS = 2_000


async def _seed(engine: AsyncEngine, make_tenant: Any) -> str:
    """Tenants with leads (keys, source ids) and contacts (phones, emails); the first tenant's token."""
    tenants = [await make_tenant() for _ in range(SEEDED_TENANTS)]
    async with engine.begin() as connection:
        for number, tenant in enumerate(tenants):
            await connection.execute(
                text(
                    """
                    WITH c AS (
                        INSERT INTO contacts (tenant_id, phone, email, name)
                        SELECT :t, '+1555' || :n || lpad(i::text, 6, '0'), 'p' || :n || '-' || i || '@example.com',
                               'Person ' || i
                        FROM generate_series(1, :count) i
                        RETURNING id, phone
                    )
                    INSERT INTO leads (tenant_id, contact_id, idempotency_key, external_id, created_at)
                    SELECT :t, c.id, 'key-' || c.phone, 'src-' || c.phone, now() FROM c
                    """
                ),
                {"t": tenant.id, "n": str(number), "count": LEADS_PER_TENANT},
            )
        await connection.execute(
            text(
                "INSERT INTO lead_webhooks (tenant_id, token, active) "
                "SELECT :t, 'old-' || i, false FROM generate_series(1, :count) i"
            ),
            {"t": tenants[0].id, "count": OLD_WEBHOOKS},
        )
        for table in sorted(READ_TABLES):
            await connection.execute(text(f"ANALYZE {table}"))
    token: str = tenants[0].webhook.token
    return token


def _values(token: str, *, phone: str | None) -> dict[str, Any]:
    contact = ContactFields(
        phone=phone,
        phone_raw=phone,
        phone_invalid=False,
        email="p0-17@example.com",
        name="Ann",
        city=None,
        metadata={},
    )
    return {
        **contact_values(contact, datetime.now(UTC)),
        "token": token,
        "check_region": False,
        "timezone": "",
        "default_region": "",
        "idempotency_key": "key-new",
        "external_id": "src-new",
        "source": None,
        "status": LeadStatus.NEW.value,
        "notes": None,
        "raw_data": {},
        "event_type": EventType.LEAD_CREATED.value,
    }


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _plans(engine: AsyncEngine, values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The custom plan for `values` and the generic plan, as lists of plan nodes (nothing executed)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        custom = await driver.fetchval("EXPLAIN (FORMAT JSON) " + INGEST.sql, *INGEST.arguments(values))
        await driver.execute("PREPARE lead_ingest_plan AS " + INGEST.sql)
        try:
            await driver.execute("SET plan_cache_mode = force_generic_plan")
            nulls = ", ".join("NULL" for _ in INGEST.parameters)
            generic = await driver.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE lead_ingest_plan({nulls})")
        finally:
            await driver.execute("DEALLOCATE lead_ingest_plan; RESET plan_cache_mode")
    return {
        kind: _nodes(json_value(plan)[0]["Plan"]) for kind, plan in (("custom", custom), ("generic", generic))
    }


async def test_the_intake_reads_by_index_only(engine: AsyncEngine, make_tenant: Any) -> None:
    token = await _seed(engine, make_tenant)
    for phone in ("+15550000017", None):
        lookups = LOOKUPS | (PHONE_LOOKUP if phone else {})
        for kind, nodes in (await _plans(engine, _values(token, phone=phone))).items():
            scans = {
                node["Relation Name"]
                for node in nodes
                if node.get("Relation Name") in READ_TABLES and node["Node Type"] == "Seq Scan"
            }
            used = {node["Index Name"] for node in nodes if "Index Name" in node}
            unserved = {lookup for lookup, indexes in lookups.items() if not indexes & used}
            assert (scans, unserved) == (set(), set()), (phone, kind, sorted(used))
