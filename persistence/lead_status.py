"""The one way a lead's status changes: the new status, its board column, and a row in its status history."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, bindparam, text

from domain.leads import LeadStatus, PipelineStage, StatusChange
from persistence.db import DriverStatement
from persistence.lead_stages import OPEN_STATUSES_SQL, stage_sql
from persistence.unit_of_work import Transaction


def stage_after_move_sql(
    *, from_status: str, to_status: str, stage: str, created_at: str, settings: str, at: str
) -> str:
    """SQL for a lead's board column after its status moves from `from_status` to `to_status` (SQL
    expressions): NULL when it leaves the board (booked, closed); the column of its age (the tenant's
    bounds, at `at`) when it comes back; unchanged between open statuses (the stage sweep moves open
    leads as they age)."""
    return (
        f"(CASE WHEN {to_status} NOT IN {OPEN_STATUSES_SQL} THEN NULL"
        f" WHEN {from_status} IN {OPEN_STATUSES_SQL} THEN {stage}"
        f" ELSE {stage_sql(created_at=created_at, settings=settings, now=at)} END)"
    )


# The stage follows the status (`stage_after_move_sql`). The history row is written by a data-modifying
# CTE, which runs whether or not the final SELECT reads it.
_SET_STATUS = DriverStatement(
    text(
        f"""
    WITH old AS (
        SELECT l.id, l.status, l.stage, l.created_at, t.settings
        FROM leads AS l JOIN tenants AS t ON t.id = l.tenant_id
        WHERE l.id = :lead_id
        FOR NO KEY UPDATE OF l
    ),
    changed AS (
        UPDATE leads SET status = :to_status, status_changed_at = :at, updated_at = now(),
            booked_at = CASE WHEN :to_status = 'booked' THEN coalesce(leads.booked_at, :at) ELSE leads.booked_at END,
            stage = {
            stage_after_move_sql(
                from_status="old.status",
                to_status=":to_status",
                stage="old.stage",
                created_at="old.created_at",
                settings="old.settings",
                at="CAST(:at AS timestamptz)",
            )
        }
        FROM old WHERE leads.id = old.id AND old.status <> :to_status
        RETURNING leads.id, leads.tenant_id, old.status AS from_status, old.stage AS from_stage,
            leads.stage AS to_stage
    ),
    history AS (
        INSERT INTO lead_status_changes (tenant_id, lead_id, from_status, to_status, changed_by, reason, changed_at)
        SELECT tenant_id, id, from_status, :to_status, :changed_by, :reason, :at FROM changed
    )
    SELECT from_status, from_stage, to_stage FROM changed
    """
    ).bindparams(bindparam("at", type_=DateTime(timezone=True)))
)


def _stage(value: str | None) -> PipelineStage | None:
    return PipelineStage(value) if value else None


async def change_status(
    tx: Transaction,
    *,
    lead_id: UUID,
    to_status: LeadStatus,
    at: datetime,
    changed_by: str | None = None,
    reason: str | None = None,
) -> StatusChange | None:
    """Set the lead's status (and stage) and record the change; returns it, or None when unchanged."""
    row = await tx.fetchrow(
        _SET_STATUS,
        {
            "lead_id": lead_id,
            "to_status": to_status.value,
            "at": at,
            "changed_by": changed_by,
            "reason": reason,
        },
    )
    if row is None:
        return None
    return StatusChange(
        from_status=LeadStatus(row["from_status"]),
        to_status=to_status,
        from_stage=_stage(row["from_stage"]),
        to_stage=_stage(row["to_stage"]),
    )
