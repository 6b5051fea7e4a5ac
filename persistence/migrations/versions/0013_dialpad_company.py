"""issue 15: one company-wide Dialpad subscription: its row, the inbox, routing indexes, users' Dialpad ids

Revision ID: 0013_dialpad_company
Revises: 0012_calltrax_abort

`dialpad_company` holds the one company webhook/subscription and the secret its events are signed
with. `dialpad_inbox` keeps company events no tenant could be found for. The indexes serve routing:
a tenant by its call center, a tenant with a lead at a number, the tenant a linked leg went to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_dialpad_company"
down_revision: str | None = "0012_calltrax_abort"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dialpad_company",
        sa.Column("id", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("hook_url", sa.Text(), nullable=True),
        sa.Column("webhook_id", sa.Text(), nullable=True),
        sa.Column("subscription_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_dialpad_company_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialpad_company")),
    )
    op.create_table(
        "dialpad_inbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("call_external_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("event_timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("external_number", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("routed_tenant_id", sa.UUID(), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["routed_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dialpad_inbox_routed_tenant_id_tenants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialpad_inbox")),
        sa.UniqueConstraint(
            "call_external_id",
            "state",
            "event_timestamp_ms",
            name=op.f("uq_dialpad_inbox_call_external_id_state_event_timestamp_ms"),
        ),
    )
    op.create_index(
        "ix_dialpad_inbox_waiting",
        "dialpad_inbox",
        ["external_number"],
        postgresql_where=sa.text("routed_at IS NULL AND reason = 'NO_TENANT'"),
    )
    op.create_index(op.f("ix_dialpad_inbox_received_at"), "dialpad_inbox", ["received_at"])
    op.add_column("users", sa.Column("dialpad_user_id", sa.Text(), nullable=True))
    op.create_index(op.f("ix_tenants_dialpad_call_center_id"), "tenants", ["dialpad_call_center_id"])
    op.create_index(op.f("ix_contacts_phone"), "contacts", ["phone"])
    op.create_index(op.f("ix_calls_external_id"), "calls", ["external_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_external_id"), table_name="calls")
    op.drop_index(op.f("ix_contacts_phone"), table_name="contacts")
    op.drop_index(op.f("ix_tenants_dialpad_call_center_id"), table_name="tenants")
    op.drop_column("users", "dialpad_user_id")
    op.drop_table("dialpad_inbox")
    op.drop_table("dialpad_company")
