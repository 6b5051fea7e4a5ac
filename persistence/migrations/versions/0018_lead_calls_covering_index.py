"""a lead's calls in order with their status from the index alone: the leads page lists each lead's
primary calls' statuses (50 index-only lookups instead of 200 heap pages)

Revision ID: 0018_lead_calls_covering_index
Revises: 0017_facts17_attempt_facts
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_lead_calls_covering_index"
down_revision: str | None = "0017_facts17_attempt_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Replaces (lead_id, started_at): every reader of a lead's calls uses it as before, and the write
    # path keeps the same number of indexes (status already leaves HOT updates to ix_calls_metrics).
    op.create_index(
        "ix_calls_lead_calls",
        "calls",
        ["lead_id", "started_at", "id"],
        postgresql_include=["is_primary_leg", "status"],
    )
    op.drop_index("ix_calls_lead_id_started_at", table_name="calls")


def downgrade() -> None:
    op.create_index("ix_calls_lead_id_started_at", "calls", ["lead_id", "started_at"])
    op.drop_index("ix_calls_lead_calls", table_name="calls")
