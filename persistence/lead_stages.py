"""The stored pipeline stage of leads: its SQL from each tenant's bounds, and the stage sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.leads import OPEN_STATUSES, LeadStatus, PipelineStage, StageBounds
from persistence.db import try_xact_lock
from persistence.snapshots import contact_snapshot_sql, lead_snapshot_sql

# Any constant unique to this lock; the SLA sweep and the migration lock use others.
STAGE_SWEEP_LOCK_KEY = 7_100_912_310

# The open statuses (domain.leads.OPEN_STATUSES) as an SQL list, for `status IN ...`.
OPEN_STATUSES_SQL = (
    "(" + ", ".join(f"'{status.value}'" for status in LeadStatus if status in OPEN_STATUSES) + ")"
)
_DEFAULTS = StageBounds().as_list()


def bound_sql(settings: str, index: int) -> str:
    """SQL for a tenant's upper age bound of stage `index + 1`, as an interval (defaults when absent)."""
    return f"make_interval(secs => coalesce(({settings} -> 'stage_bounds' ->> {index})::float8, {_DEFAULTS[index]}))"


def stage_sql(*, created_at: str, settings: str, now: str) -> str:
    """SQL for the age-based stage of an open lead: the columns of `domain.leads.stage_age_range` (each
    stage's upper bound is the tenant's bound of that index), as `stage_for` reads them in Python;
    tests/stages/test_stage_rule.py holds the two to the same answer at every edge.

    `settings` is a tenants.settings expression, `now` a timestamptz expression."""
    stages = list(PipelineStage)
    whens = " ".join(
        f"WHEN {created_at} > {now} - {bound_sql(settings, index)} THEN '{stages[index].value}'"
        for index in range(3)
    )
    return f"(CASE {whens} ELSE '{stages[3].value}' END)"


# The tenants' column edges at :now: a lead belongs in stage N when edge N < created_at <= edge N-1.
# `due` lists only the open leads whose stored stage is wrong (NULL, aged past its column's edge, or
# outside it after the tenant changed its bounds): each branch is a range scan of ix_leads_open_by_stage,
# so a sweep with nothing to do reads no lead. `locked` takes the rows (SKIP LOCKED leaves a lead a
# status change holds to the next sweep) and recomputes the stage on the locked row; the UPDATE writes
# only where it still differs, so a lead moves, and its event is recorded, exactly once, with the
# snapshots selected here (persistence/snapshots.py).
_RESTAGE = text(
    f"""
    WITH edges AS (
        SELECT t.id AS tenant_id, t.settings,
               CAST(:now AS timestamptz) - {bound_sql("t.settings", 0)} AS e1,
               CAST(:now AS timestamptz) - {bound_sql("t.settings", 1)} AS e2,
               CAST(:now AS timestamptz) - {bound_sql("t.settings", 2)} AS e3
        FROM tenants AS t
    ),
    due AS (
        SELECT wrong.id FROM edges CROSS JOIN LATERAL (
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage IS NULL
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_1' AND l.created_at <= edges.e1
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_2' AND l.created_at <= edges.e2
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_2' AND l.created_at > edges.e1
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_3' AND l.created_at <= edges.e3
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_3' AND l.created_at > edges.e2
            UNION ALL
            SELECT l.id FROM leads AS l WHERE l.tenant_id = edges.tenant_id
                AND l.status IN {OPEN_STATUSES_SQL} AND l.stage = 'follow_up_4' AND l.created_at > edges.e3
        ) AS wrong
        LIMIT :limit
    ),
    locked AS (
        SELECT l.id, l.stage AS from_stage,
               {stage_sql(created_at="l.created_at", settings="t.settings", now="CAST(:now AS timestamptz)")}
                   AS to_stage
        FROM leads AS l JOIN tenants AS t ON t.id = l.tenant_id
        -- By primary key, one lookup per due lead: as a join, a misestimate of how many are due (an
        -- age edge from the settings is a guess to the planner) read every open lead instead.
        WHERE l.id = ANY(ARRAY(SELECT id FROM due)) AND l.status IN {OPEN_STATUSES_SQL}
        FOR NO KEY UPDATE OF l SKIP LOCKED
    ),
    moved AS (
        UPDATE leads AS l
        SET stage = locked.to_stage, updated_at = now()
        FROM locked
        WHERE l.id = locked.id AND l.stage IS DISTINCT FROM locked.to_stage
        RETURNING l.*, locked.from_stage
    )
    SELECT m.tenant_id, m.from_stage, m.stage, {lead_snapshot_sql("m")} AS lead, {contact_snapshot_sql("c")} AS contact
    FROM moved AS m JOIN contacts AS c ON c.id = m.contact_id
    ORDER BY m.tenant_id, m.created_at, m.id
    """
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


@dataclass(frozen=True)
class RestagedLead:
    """A lead the sweep just moved to another column, with the snapshots its event carries."""

    tenant_id: UUID
    lead: dict[str, Any]
    contact: dict[str, Any]
    from_stage: PipelineStage | None
    to_stage: PipelineStage


async def try_sweep_lock(connection: AsyncConnection) -> bool:
    """Take the stage sweep lock for this transaction, or False when another process holds it."""
    return await try_xact_lock(connection, STAGE_SWEEP_LOCK_KEY)


async def restage(connection: AsyncConnection, *, now: datetime, limit: int) -> list[RestagedLead]:
    """Move up to `limit` open leads whose stored stage differs from their age's at `now`; returns them."""
    rows = await connection.execute(_RESTAGE, {"now": now, "limit": limit})
    return [
        RestagedLead(
            tenant_id=row.tenant_id,
            lead=row.lead,
            contact=row.contact,
            from_stage=PipelineStage(row.from_stage) if row.from_stage else None,
            to_stage=PipelineStage(row.stage),
        )
        for row in rows
    ]
