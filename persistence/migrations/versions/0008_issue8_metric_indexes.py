"""metric covering indexes: a range's leads and primary calls read from the index alone

Revision ID: 0008_issue8_metric_indexes
Revises: 0009_issue9_notifications (chained after main's 0009 so there is one head)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_issue8_metric_indexes"
down_revision: str | None = "0009_issue9_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_leads_metrics",
        "leads",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_include=["first_attempt_at", "first_connected_at"],
    )
    op.create_index(
        "ix_calls_metrics",
        "calls",
        ["tenant_id", "started_at"],
        unique=False,
        postgresql_include=["direction", "connected_at", "booked"],
        postgresql_where=sa.text("is_primary_leg"),
    )


def downgrade() -> None:
    op.drop_index("ix_calls_metrics", table_name="calls")
    op.drop_index("ix_leads_metrics", table_name="leads")
