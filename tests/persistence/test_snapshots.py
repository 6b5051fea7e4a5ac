"""Event snapshots are rendered two ways today, by Python (`persistence.snapshots.snapshot`, for events
recorded through a transaction) and by SQL (`json_snapshot_sql`, for events the hot-path statements
insert themselves): subscribers must not tell them apart (docs/architecture.md, "Where each rule lives")."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.leads import json_snapshot_sql
from persistence.snapshots import snapshot
from persistence.tables import Contact, Lead
from tests.support_leads import insert_lead


async def test_sql_snapshots_of_a_lead_and_its_contact_equal_the_python_ones(
    engine: AsyncEngine, make_tenant
) -> None:
    tenant = await make_tenant()
    # Whole seconds and microseconds render differently (isoformat drops a zero fraction).
    lead = await insert_lead(
        engine,
        tenant.id,
        created_at=datetime(2026, 3, 8, 1, 2, 3, tzinfo=UTC),
        first_attempt_at=datetime(2026, 3, 8, 1, 2, 4, 500, tzinfo=UTC),
        phone="+61430000001",
    )
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM leads WHERE id = :id"), {"id": lead["id"]})).one()
        contact = (
            await connection.execute(text("SELECT * FROM contacts WHERE id = :id"), {"id": row.contact_id})
        ).one()
        in_sql = (
            await connection.execute(
                text(
                    f"SELECT {json_snapshot_sql('l', Lead.__table__, exclude=('raw_data',))} AS lead, "
                    f"{json_snapshot_sql('c', Contact.__table__)} AS contact "
                    "FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id WHERE l.id = :id"
                ),
                {"id": lead["id"]},
            )
        ).one()
    assert in_sql.lead == snapshot(row, exclude=("raw_data",))
    assert in_sql.contact == snapshot(contact)
