"""Alembic migrations for the CallTrax schema."""
