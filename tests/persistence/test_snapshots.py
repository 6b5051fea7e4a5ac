"""Lead, contact and call snapshots in event payloads have one source, the SQL of
`persistence/snapshots.py` (docs/architecture.md, "Where each rule lives"): subscribers read them back
as the rows they are, and no module renders one in Python."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.rows import CallRow, ContactRow, LeadRow
from persistence.snapshots import (
    CALL_EXCLUDED,
    LEAD_EXCLUDED,
    call_snapshot_sql,
    contact_snapshot_sql,
    lead_snapshot_sql,
    snapshot,
)
from persistence.tables import Call, Contact, Lead
from tests.graph.factories import insert_call
from tests.support_leads import insert_lead

ROOT = Path(__file__).resolve().parents[2]
# The rows whose payloads are rendered in Python: no SQL statement snapshots them.
PYTHON_SNAPSHOTS = {"services/add_lead_note.py", "services/provision_client.py"}


async def test_sql_snapshots_read_back_as_the_rows_they_are(engine: AsyncEngine, make_tenant) -> None:
    tenant = await make_tenant()
    # Whole seconds and microseconds render differently (isoformat drops a zero fraction).
    lead = await insert_lead(
        engine,
        tenant.id,
        created_at=datetime(2026, 3, 8, 1, 2, 3, tzinfo=UTC),
        first_attempt_at=datetime(2026, 3, 8, 1, 2, 4, 500, tzinfo=UTC),
        phone="+61430000001",
    )
    call_id = await insert_call(
        engine,
        tenant.id,
        lead_id=lead["id"],
        started_at=datetime(2026, 3, 8, 1, 3, tzinfo=UTC),
        duration_seconds=42,
    )
    async with engine.connect() as connection:
        stored = (
            await connection.execute(text("SELECT * FROM leads WHERE id = :id"), {"id": lead["id"]})
        ).one()
        contact = (
            await connection.execute(text("SELECT * FROM contacts WHERE id = :id"), {"id": stored.contact_id})
        ).one()
        call = (await connection.execute(text("SELECT * FROM calls WHERE id = :id"), {"id": call_id})).one()
        in_sql = (
            await connection.execute(
                text(
                    f"SELECT {lead_snapshot_sql('l')} AS lead, {contact_snapshot_sql('c')} AS contact, "
                    f"{call_snapshot_sql('k')} AS call "
                    "FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id "
                    "JOIN calls AS k ON k.lead_id = l.id WHERE l.id = :id"
                ),
                {"id": lead["id"]},
            )
        ).one()
    # Every column but the excluded ones, under its own name.
    assert set(in_sql.lead) == {c.name for c in Lead.__table__.columns} - set(LEAD_EXCLUDED)
    assert set(in_sql.contact) == {c.name for c in Contact.__table__.columns}
    assert set(in_sql.call) == {c.name for c in Call.__table__.columns} - set(CALL_EXCLUDED)
    # What subscribers build from a payload is the row as stored.
    assert LeadRow.from_mapping(in_sql.lead) == LeadRow.from_mapping(stored._mapping)
    assert ContactRow.from_mapping(in_sql.contact) == ContactRow.from_mapping(contact._mapping)
    assert CallRow.from_mapping(in_sql.call) == CallRow.from_mapping(call._mapping)
    # The text is the payload convention (domain/events.py) that `snapshot()` also renders for the
    # rows no statement snapshots (notes, tenants): one format whichever side renders it.
    assert in_sql.lead == snapshot(stored, exclude=LEAD_EXCLUDED)
    assert in_sql.lead["created_at"] == "2026-03-08T01:02:03+00:00"
    assert in_sql.lead["first_attempt_at"] == "2026-03-08T01:02:04.000500+00:00"
    assert in_sql.contact == snapshot(contact)


def test_no_module_renders_a_lead_contact_or_call_snapshot_in_python() -> None:
    callers = set()
    for folder in ("calltrax", "services", "persistence", "graph", "webhooks", "exports"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "snapshot":
                    callers.add(str(path.relative_to(ROOT)))
    callers.discard("persistence/snapshots.py")
    assert callers == PYTHON_SNAPSHOTS
