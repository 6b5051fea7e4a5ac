"""calltrax_abort(): a statement that must undo itself fails with a named SQLSTATE, not a bad cast

Revision ID: 0012_calltrax_abort
Revises: 0011_call_event_count

The lead intake is one autocommit statement; when a concurrent duplicate lead committed first, the
statement must fail so its contact merge is undone too. It did so with a deliberately failing CAST
recognised by its message text; now it calls this function, which raises SQLSTATE CT001
(persistence/errors.py LOST_RACE). Plain SQL cannot raise an error of its choosing, a function can.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_calltrax_abort"
down_revision: str | None = "0011_call_event_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # VOLATILE (the default) so the planner never folds a call with constant arguments into an
    # error at plan time: it runs only where the statement reaches it.
    op.execute(
        """
        CREATE FUNCTION calltrax_abort(code text, message text) RETURNS integer
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION calltrax_abort(text, text)")
