"""SQL for provisioning: the tenant reservation, the per-tenant provisioning lock, lead webhook switches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.tenants import TenantSettings, TenantStatus
from persistence.tables import LeadWebhook, Tenant
from persistence.tenants import TenantRow, _tenant
from persistence.unit_of_work import read_only

# hashtextextended gives the bigint advisory locks take; the prefix keeps our keys apart from others'.
_LOCK_KEY = "hashtextextended('calltrax.provisioning:' || CAST(:tenant_id AS text), 0)"


async def reserve_tenant(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    name: str,
    slug: str,
    timezone: str,
    settings: TenantSettings,
    dialpad_mode: str,
    office_id: str | None,
) -> TenantRow | None:
    """Insert the tenant as `provisioning` with a chosen id; None when the slug is taken (the unique key
    decides races, so a concurrent duplicate loses here, before any Dialpad call)."""
    statement = (
        insert(Tenant)
        .values(
            id=tenant_id,
            name=name,
            slug=slug,
            timezone=timezone,
            status=TenantStatus.PROVISIONING.value,
            # The office rides along in the settings JSON (TenantSettings ignores unknown keys).
            settings={**settings.to_json(), "dialpad_office_id": office_id},
            dialpad_mode=dialpad_mode,
        )
        .on_conflict_do_nothing(index_elements=[Tenant.slug])
        .returning(Tenant)
    )
    row = (await connection.execute(statement)).first()
    return _tenant(row) if row else None


@asynccontextmanager
async def provisioning_lock(engine: AsyncEngine, tenant_id: UUID) -> AsyncIterator[bool]:
    """Try to take the tenant's provisioning lock for the block; yields False when someone holds it.

    A session-level advisory lock on a connection of its own: no transaction stays open while Dialpad
    is called, and a crashed process's lock goes with its connection, so a half-done tenant can be
    retried without waiting for a timeout."""
    async with read_only(engine) as connection:
        acquired = bool(
            (
                await connection.execute(
                    text(f"SELECT pg_try_advisory_lock({_LOCK_KEY})"), {"tenant_id": str(tenant_id)}
                )
            ).scalar()
        )
        await connection.commit()
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    await connection.execute(
                        text(f"SELECT pg_advisory_unlock({_LOCK_KEY})"), {"tenant_id": str(tenant_id)}
                    )
                    await connection.commit()
                except Exception:
                    # A pooled connection must never keep the lock: drop it instead.
                    await connection.invalidate()
                    raise


async def set_lead_webhooks_active(connection: AsyncConnection, *, tenant_id: UUID, active: bool) -> int:
    """Switch every lead webhook of a tenant on or off; returns how many changed."""
    result = await connection.execute(
        update(LeadWebhook)
        .where(LeadWebhook.tenant_id == tenant_id, LeadWebhook.active.is_not(active))
        .values(active=active)
    )
    return int(result.rowcount or 0)


async def dialpad_office_id(connection: AsyncConnection, tenant_id: UUID) -> str | None:
    """The Dialpad office a tenant's call center belongs in, kept beside its settings for retries."""
    value = (
        await connection.execute(
            text("SELECT settings->>'dialpad_office_id' FROM tenants WHERE id = :tenant_id"),
            {"tenant_id": tenant_id},
        )
    ).scalar()
    return str(value) if value is not None else None
