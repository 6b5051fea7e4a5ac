"""The one way a lead's status changes: the new status plus a row in its status history."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import LeadStatus

_SET_STATUS = text(
    """
    WITH old AS (SELECT id, status FROM leads WHERE id = :lead_id FOR NO KEY UPDATE),
    changed AS (
        UPDATE leads SET status = :to_status, status_changed_at = :at, updated_at = now(),
            booked_at = CASE WHEN :to_status = 'booked' THEN coalesce(leads.booked_at, :at) ELSE leads.booked_at END
        FROM old WHERE leads.id = old.id AND old.status <> :to_status
        RETURNING leads.id, leads.tenant_id, old.status AS from_status
    )
    INSERT INTO lead_status_changes (tenant_id, lead_id, from_status, to_status, changed_by, reason, changed_at)
    SELECT tenant_id, id, from_status, :to_status, :changed_by, :reason, :at FROM changed
    RETURNING from_status
    """
)


async def change_status(
    connection: AsyncConnection,
    *,
    lead_id: UUID,
    to_status: LeadStatus,
    at: datetime,
    changed_by: str | None = None,
    reason: str | None = None,
) -> LeadStatus | None:
    """Set the lead's status and record the change; returns the previous status, or None when unchanged."""
    row = (
        await connection.execute(
            _SET_STATUS,
            {
                "lead_id": lead_id,
                "to_status": to_status.value,
                "at": at,
                "changed_by": changed_by,
                "reason": reason,
            },
        )
    ).first()
    return LeadStatus(row.from_status) if row else None
