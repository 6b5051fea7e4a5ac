"""Recompute stored calls and their leads from call_events under the customer-call rules of issue 14

Revision ID: 0015_issue14_recompute_calls
Revises: 0014_issue14_customer_calls

Old rows counted root legs only, took an IVR pick-up for a connect, let a post-call event turn a
call inbound and credited one lead per call; projecting the stored events again makes old figures
right too (`persistence/recompute_calls.py`). Downgrading leaves the rows as they are.
"""

from collections.abc import Sequence

from alembic import op

from persistence.recompute_calls import recompute_all

revision: str = "0015_issue14_recompute_calls"
down_revision: str | None = "0014_issue14_customer_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    recompute_all(op.get_bind())


def downgrade() -> None:
    pass
