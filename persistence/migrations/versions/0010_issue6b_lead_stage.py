"""issue 6b: leads.stage, the pipeline column the board last showed, and the stage sweep's index

Revision ID: 0010_issue6b_lead_stage
Revises: 0008_issue8_metric_indexes (main's head: 0001 -> 0009 -> 0008)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_issue6b_lead_stage"
down_revision: str | None = "0008_issue8_metric_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('new', 'contacted')"

# Frozen copy of persistence.lead_stages.stage_sql at this revision (migrations never import app code):
# each tenant's bounds from settings.stage_bounds, the defaults (1, 3, 7 days) where absent.
_BACKFILL = """
UPDATE leads AS l
SET stage = CASE
    WHEN l.created_at > now() - make_interval(secs => coalesce((t.settings -> 'stage_bounds' ->> 0)::float8, 86400))
        THEN 'follow_up_1'
    WHEN l.created_at > now() - make_interval(secs => coalesce((t.settings -> 'stage_bounds' ->> 1)::float8, 259200))
        THEN 'follow_up_2'
    WHEN l.created_at > now() - make_interval(secs => coalesce((t.settings -> 'stage_bounds' ->> 2)::float8, 604800))
        THEN 'follow_up_3'
    ELSE 'follow_up_4'
END
FROM tenants AS t
WHERE t.id = l.tenant_id AND l.status IN ('new', 'contacted')
"""


def upgrade() -> None:
    op.add_column("leads", sa.Column("stage", sa.Text(), nullable=True))
    op.create_check_constraint(
        "stage",
        "leads",
        "stage IN ('follow_up_1', 'follow_up_2', 'follow_up_3', 'follow_up_4')",
    )
    op.execute(_BACKFILL)
    op.create_index(
        "ix_leads_open_by_stage",
        "leads",
        ["tenant_id", "stage", "created_at"],
        unique=False,
        postgresql_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_leads_open_by_stage", table_name="leads", postgresql_where=sa.text(_OPEN))
    op.drop_constraint(op.f("ck_leads_stage"), "leads", type_="check")
    op.drop_column("leads", "stage")
