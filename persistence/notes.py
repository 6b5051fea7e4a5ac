"""Lead notes: adding one, and reading each lead's notes in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.rows import NoteRow

_NOTES_FOR_LEADS = text(
    """
    SELECT n.id, n.tenant_id, n.lead_id, n.author_id, u.name AS author_name, u.email AS author_email,
           n.body, n.created_at
    FROM lead_notes n LEFT JOIN users u ON u.id = n.author_id
    WHERE n.lead_id = ANY(:ids)
    ORDER BY n.lead_id, n.created_at, n.id
    """
)

_INSERT_NOTE = text(
    """
    WITH note AS (
        INSERT INTO lead_notes (tenant_id, lead_id, author_id, body, created_at)
        VALUES (:tenant_id, :lead_id, :author_id, :body, :created_at)
        RETURNING id, tenant_id, lead_id, author_id, body, created_at
    )
    SELECT note.*, u.name AS author_name, u.email AS author_email
    FROM note LEFT JOIN users u ON u.id = note.author_id
    """
)


async def notes_for_leads(connection: AsyncConnection, lead_ids: Sequence[UUID]) -> dict[UUID, list[NoteRow]]:
    """Each lead's notes, oldest first, with their authors."""
    rows = await connection.execute(_NOTES_FOR_LEADS, {"ids": list(lead_ids)})
    found: dict[UUID, list[NoteRow]] = {lead_id: [] for lead_id in lead_ids}
    for row in rows:
        found[row.lead_id].append(NoteRow.from_db(row))
    return found


async def insert_note(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    lead_id: UUID,
    author_id: str | None,
    body: str,
    created_at: datetime,
) -> NoteRow:
    row = (
        await connection.execute(
            _INSERT_NOTE,
            {
                "tenant_id": tenant_id,
                "lead_id": lead_id,
                "author_id": author_id,
                "body": body,
                "created_at": created_at,
            },
        )
    ).one()
    return NoteRow.from_mapping(row._mapping)
