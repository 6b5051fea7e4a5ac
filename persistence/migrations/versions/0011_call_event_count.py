"""Dialpad event throughput: calls.event_count, and no second index on call_events' unique prefix

Revision ID: 0011_call_event_count
Revises: 0010_issue6b_lead_stage

`calls.event_count` counts the call's stored events; each event's write increments it under the
call's row lock, so the writer can tell whether the history its statement read is complete without
a second lookup. `ix_call_events_tenant_id_call_external_id` duplicated the leading columns of the
unique (tenant_id, call_external_id, state, event_timestamp_ms) index: one index less per event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_call_event_count"
down_revision: str | None = "0010_issue6b_lead_stage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("event_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        """
        UPDATE calls SET event_count = counted.n
        FROM (
            SELECT tenant_id, call_external_id, count(*) AS n FROM call_events GROUP BY 1, 2
        ) AS counted
        WHERE calls.tenant_id = counted.tenant_id AND calls.external_id = counted.call_external_id
        """
    )
    op.drop_index("ix_call_events_tenant_id_call_external_id", table_name="call_events")


def downgrade() -> None:
    op.create_index(
        "ix_call_events_tenant_id_call_external_id", "call_events", ["tenant_id", "call_external_id"]
    )
    op.drop_column("calls", "event_count")
