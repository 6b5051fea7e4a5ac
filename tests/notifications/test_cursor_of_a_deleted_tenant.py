"""A tenant deleted while the notification dispatcher works through its list is skipped, not an error."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import notifications as store


async def test_the_cursor_of_a_tenant_deleted_after_the_listing_is_none(
    engine: AsyncEngine, make_tenant
) -> None:
    # The dispatcher lists the tenants behind, then locks each one's cursor in its own transaction:
    # a tenant deleted in between used to fail the cursor's insert on its foreign key (logged as an
    # error with a traceback, the whole dispatch retried).
    tenant = await make_tenant()
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant.id})
    async with engine.begin() as connection:
        assert await store.lock_cursor(connection, tenant.id) is None
        assert await store.lock_cursor(connection, uuid.uuid4()) is None


async def test_a_live_tenant_gets_its_cursor_from_zero(engine: AsyncEngine, make_tenant) -> None:
    tenant = await make_tenant()
    async with engine.begin() as connection:
        assert await store.lock_cursor(connection, tenant.id) == 0
