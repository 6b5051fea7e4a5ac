"""Shared steps for benches that bulk-generate data in SQL."""

from __future__ import annotations

from sqlalchemy import text

from persistence.lead_stages import stage_sql

# The column the board shows, as intake, status changes and the stage sweep keep it. Without it the
# server under test spends the run restaging the generated history (and publishing those events).
STORED_STAGES = text(
    "UPDATE leads AS l SET stage = CASE WHEN l.status IN ('new', 'contacted') THEN "
    + stage_sql(created_at="l.created_at", settings="t.settings", now="now()")
    + " END FROM tenants AS t WHERE t.id = l.tenant_id AND l.tenant_id = :tenant"
)
