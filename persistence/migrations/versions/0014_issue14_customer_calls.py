"""Customer calls: legs linked by operator_call_id too, ABANDONED calls, the legs of a customer call by key

Revision ID: 0014_issue14_customer_calls
Revises: 0013_dialpad_company

`calls.operator_call_id` is the third id Dialpad links legs with; `calls.linked` marks the legs of a
customer call of several legs; `ix_calls_customer_call` finds a customer call's legs by key. The
status check admits `abandoned` (an inbound call that reached only an IVR, a menu or a queue).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_issue14_customer_calls"
down_revision: str | None = "0013_dialpad_company"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = ("ringing", "connected", "completed", "missed", "no_answer", "voicemail")


def _replace_status_check(statuses: Sequence[str]) -> None:
    listed = ", ".join(f"'{status}'" for status in statuses)
    op.execute(
        f"ALTER TABLE calls DROP CONSTRAINT ck_calls_status, ADD CONSTRAINT ck_calls_status CHECK (status IN ({listed}))"
    )


def upgrade() -> None:
    op.add_column("calls", sa.Column("operator_call_id", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("linked", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.create_index("ix_calls_customer_call", "calls", ["tenant_id", "customer_call_key"])
    _replace_status_check((*_STATUSES, "abandoned"))


def downgrade() -> None:
    op.execute("UPDATE calls SET status = 'missed' WHERE status = 'abandoned'")
    _replace_status_check(_STATUSES)
    op.drop_index("ix_calls_customer_call", table_name="calls")
    op.drop_column("calls", "linked")
    op.drop_column("calls", "operator_call_id")
