"""metric covering indexes widened for the breakdowns: a range's leads with their source, contact
and booking, and primary calls with their contact, status, end and agent, from the index alone

Revision ID: 0016_analytics_breakdown_indexes
Revises: 0015_issue14_recompute_calls
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_analytics_breakdown_indexes"
down_revision: str | None = "0015_issue14_recompute_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEAD_COLUMNS = ["first_attempt_at", "first_connected_at", "id", "contact_id", "source", "booked_at"]
CALL_COLUMNS = ["direction", "connected_at", "booked", "contact_id", "status", "ended_at", "agent_id"]


def _replace(lead_columns: list[str], call_columns: list[str]) -> None:
    op.drop_index("ix_leads_metrics", table_name="leads")
    op.create_index("ix_leads_metrics", "leads", ["tenant_id", "created_at"], postgresql_include=lead_columns)
    op.drop_index("ix_calls_metrics", table_name="calls")
    op.create_index(
        "ix_calls_metrics",
        "calls",
        ["tenant_id", "started_at"],
        postgresql_include=call_columns,
        postgresql_where=sa.text("is_primary_leg"),
    )


def upgrade() -> None:
    _replace(LEAD_COLUMNS, CALL_COLUMNS)


def downgrade() -> None:
    _replace(["first_attempt_at", "first_connected_at"], ["direction", "connected_at", "booked"])
