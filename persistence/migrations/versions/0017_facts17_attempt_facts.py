"""attempt facts on the write path: a lead's attempts to first contact and first attempt's agent, an
inbound call's callback, kept by triggers from one attempt rule and read by the metrics from their indexes

Revision ID: 0017_facts17_attempt_facts
Revises: 0016_analytics_breakdown_indexes

The metrics' breakdowns joined each lead of a range to its contact's outbound calls (attempts to
contact, the first attempt's agent) and each missed inbound call to the next outbound call (its
callback): most of the full metrics' time at 2M calls. The facts are now columns, recomputed from
the calls (never incremented, so event order does not matter) by the triggers and functions of
`persistence/sql/call_attempt_facts.sql` (CREATE OR REPLACE: safe to run again), and backfilled here
from the stored calls with the same functions. The covering metric indexes gain the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from persistence.sql_files import read_sql, script_statements

revision: str = "0017_facts17_attempt_facts"
down_revision: str | None = "0016_analytics_breakdown_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEAD_COLUMNS = ["first_attempt_at", "first_connected_at", "id", "contact_id", "source", "booked_at"]
CALL_COLUMNS = ["direction", "connected_at", "booked", "contact_id", "status", "ended_at", "agent_id"]
LEAD_FACTS = ["attempts_to_contact", "first_attempt_agent_id"]
CALL_FACTS = ["callback_at"]


def _indexes(lead_columns: list[str], call_columns: list[str]) -> None:
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
    op.add_column("leads", sa.Column("attempts_to_contact", sa.Integer(), server_default="0", nullable=False))
    op.add_column("leads", sa.Column("first_attempt_agent_id", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True))
    for statement in script_statements(read_sql("call_attempt_facts")):
        op.execute(sa.text(statement))
    op.execute("SELECT calltrax_backfill_facts(NULL)")
    _indexes(LEAD_COLUMNS + LEAD_FACTS, CALL_COLUMNS + CALL_FACTS)


def downgrade() -> None:
    _indexes(LEAD_COLUMNS, CALL_COLUMNS)
    op.execute("DROP TRIGGER IF EXISTS calltrax_lead_facts ON leads")
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS calltrax_call_facts_{name} ON calls")
    for function in (
        "calltrax_call_facts_trigger()",
        "calltrax_lead_facts_trigger()",
        "calltrax_refresh_contact_facts(uuid)",
        "calltrax_backfill_facts(uuid)",
        "calltrax_callback_at(uuid, text, boolean, timestamptz)",
        "calltrax_lead_attempt_facts(uuid, timestamptz, timestamptz, timestamptz)",
        "calltrax_is_attempt(uuid, text, boolean, timestamptz, uuid, timestamptz)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_column("calls", "callback_at")
    op.drop_column("leads", "first_attempt_agent_id")
    op.drop_column("leads", "attempts_to_contact")
