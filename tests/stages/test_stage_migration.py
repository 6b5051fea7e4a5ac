"""Migration 0010 backfills the stored stage of existing leads from their age and tenant bounds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from persistence.db import create_engine
from persistence.migrate import downgrade, upgrade
from tests.persistence.test_migrations import _admin

BEFORE = "0008_issue8_metric_indexes"


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    name = f"calltrax_stage_{uuid.uuid4().hex[:8]}"
    _admin(database_url, f'CREATE DATABASE "{name}"')
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    _admin(database_url, f'DROP DATABASE "{name}" WITH (FORCE)')


SEED = """
WITH tenant AS (
    INSERT INTO tenants (name, slug, timezone, settings)
    VALUES ('Default', 'default', 'UTC', '{}'), ('Tight', 'tight', 'UTC', '{"stage_bounds": [1800, 3600, 518400]}')
    RETURNING id, slug
),
contact AS (
    INSERT INTO contacts (tenant_id, phone) SELECT id, '+61430363930' FROM tenant RETURNING id, tenant_id
)
INSERT INTO leads (tenant_id, contact_id, source, status, created_at)
SELECT contact.tenant_id, contact.id, tenant.slug || ':' || age.label, age.status, now() - age.age
FROM contact JOIN tenant ON tenant.id = contact.tenant_id
CROSS JOIN (VALUES ('1h', interval '1 hour', 'new'), ('2d', interval '2 days', 'contacted'),
                   ('5d', interval '5 days', 'new'), ('9d', interval '9 days', 'new'),
                   ('booked', interval '1 hour', 'booked')) AS age (label, age, status)
"""


def _run(url: str, statement: str) -> dict[str, str | None]:
    async def run() -> dict[str, str | None]:
        engine = create_engine(url, pool_size=1)
        async with engine.begin() as connection:
            result = await connection.execute(text(statement))
            found = {row.source: row.stage for row in result} if result.returns_rows else {}
        await engine.dispose()
        return found

    return asyncio.run(run())


def test_the_migration_backfills_stages_with_each_tenants_bounds(scratch_database: str) -> None:
    upgrade(scratch_database, BEFORE)
    _run(scratch_database, SEED)
    upgrade(scratch_database)
    assert _run(scratch_database, "SELECT source, stage FROM leads") == {
        "default:1h": "follow_up_1",
        "default:2d": "follow_up_2",
        "default:5d": "follow_up_3",
        "default:9d": "follow_up_4",
        "default:booked": None,
        "tight:1h": "follow_up_3",
        "tight:2d": "follow_up_3",
        "tight:5d": "follow_up_3",
        "tight:9d": "follow_up_4",
        "tight:booked": None,
    }
    downgrade(scratch_database, BEFORE)
    # Down again: the column goes, the leads stay.
    assert _run(scratch_database, "SELECT 'leads' AS source, count(*)::text AS stage FROM leads") == {
        "leads": "10"
    }
