"""Tenants and their lead webhooks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.tenants import TenantSettings, TenantStatus
from persistence.tables import LeadWebhook, Tenant


@dataclass(frozen=True)
class TenantRow:
    id: UUID
    name: str
    slug: str
    timezone: str
    status: TenantStatus
    status_reason: str | None
    dialpad_mode: str | None
    dialpad_call_center_id: str | None
    dialpad_webhook_id: str | None
    dialpad_subscription_id: str | None
    dialpad_webhook_secret: str | None
    settings: TenantSettings
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LeadWebhookRow:
    id: UUID
    tenant_id: UUID
    token: str
    label: str | None
    active: bool
    created_at: datetime
    rotated_at: datetime | None


def _tenant(row: Any) -> TenantRow:
    return TenantRow(
        id=row.id,
        name=row.name,
        slug=row.slug,
        timezone=row.timezone,
        status=TenantStatus(row.status),
        status_reason=row.status_reason,
        dialpad_mode=row.dialpad_mode,
        dialpad_call_center_id=row.dialpad_call_center_id,
        dialpad_webhook_id=row.dialpad_webhook_id,
        dialpad_subscription_id=row.dialpad_subscription_id,
        dialpad_webhook_secret=row.dialpad_webhook_secret,
        settings=TenantSettings.from_json(row.settings),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _webhook(row: Any) -> LeadWebhookRow:
    return LeadWebhookRow(
        id=row.id,
        tenant_id=row.tenant_id,
        token=row.token,
        label=row.label,
        active=row.active,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
    )


def new_webhook_token() -> str:
    """An unguessable URL-safe token: 192 random bits."""
    return secrets.token_urlsafe(24)


async def insert_tenant(
    connection: AsyncConnection,
    *,
    name: str,
    slug: str,
    timezone: str,
    status: TenantStatus = TenantStatus.ACTIVE,
    settings: TenantSettings | None = None,
    dialpad_webhook_secret: str | None = None,
    dialpad_mode: str | None = None,
) -> TenantRow | None:
    """Insert a tenant; None when the slug is taken (the unique key decides races)."""
    statement = (
        insert(Tenant)
        .values(
            name=name,
            slug=slug,
            timezone=timezone,
            status=status.value,
            settings=(settings or TenantSettings()).to_json(),
            dialpad_webhook_secret=dialpad_webhook_secret,
            dialpad_mode=dialpad_mode,
        )
        .on_conflict_do_nothing(index_elements=[Tenant.slug])
        .returning(Tenant)
    )
    row = (await connection.execute(statement)).first()
    return _tenant(row) if row else None


async def get_tenant(
    connection: AsyncConnection, tenant_id: UUID, *, for_update: bool = False
) -> TenantRow | None:
    """The tenant; `for_update` locks its row until the transaction ends (read-modify-write)."""
    query = select(Tenant).where(Tenant.id == tenant_id)
    row = (await connection.execute(query.with_for_update() if for_update else query)).first()
    return _tenant(row) if row else None


async def get_tenant_by_slug(connection: AsyncConnection, slug: str) -> TenantRow | None:
    row = (await connection.execute(select(Tenant).where(Tenant.slug == slug))).first()
    return _tenant(row) if row else None


async def list_tenants(
    connection: AsyncConnection, tenant_ids: frozenset[UUID] | None = None
) -> list[TenantRow]:
    """Tenants by name; `tenant_ids` None means all."""
    query = select(Tenant).order_by(Tenant.name, Tenant.id)
    if tenant_ids is not None:
        query = query.where(Tenant.id.in_(list(tenant_ids)))
    return [_tenant(row) for row in await connection.execute(query)]


async def get_tenants(connection: AsyncConnection, tenant_ids: list[UUID]) -> dict[UUID, TenantRow]:
    """Tenants by id in one statement (for DataLoaders)."""
    rows = await connection.execute(select(Tenant).where(Tenant.id.in_(tenant_ids)))
    return {row.id: _tenant(row) for row in rows}


async def update_tenant(connection: AsyncConnection, tenant_id: UUID, **values: Any) -> TenantRow | None:
    """Set columns on a tenant (settings as a TenantSettings); returns the new row."""
    if isinstance(values.get("settings"), TenantSettings):
        values["settings"] = values["settings"].to_json()
    if isinstance(values.get("status"), TenantStatus):
        values["status"] = values["status"].value
    statement = (
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(**values, updated_at=text("now()"))
        .returning(Tenant)
    )
    row = (await connection.execute(statement)).first()
    return _tenant(row) if row else None


async def create_lead_webhook(
    connection: AsyncConnection, *, tenant_id: UUID, label: str | None = None
) -> LeadWebhookRow:
    statement = (
        insert(LeadWebhook)
        .values(tenant_id=tenant_id, token=new_webhook_token(), label=label)
        .returning(LeadWebhook)
    )
    return _webhook((await connection.execute(statement)).one())


async def list_lead_webhooks(
    connection: AsyncConnection, tenant_ids: list[UUID]
) -> dict[UUID, list[LeadWebhookRow]]:
    rows = await connection.execute(
        select(LeadWebhook).where(LeadWebhook.tenant_id.in_(tenant_ids)).order_by(LeadWebhook.created_at)
    )
    found: dict[UUID, list[LeadWebhookRow]] = {tenant_id: [] for tenant_id in tenant_ids}
    for row in rows:
        found[row.tenant_id].append(_webhook(row))
    return found


async def find_active_webhook(
    connection: AsyncConnection, token: str
) -> tuple[LeadWebhookRow, TenantRow] | None:
    """The active lead webhook with `token` and its tenant, in one statement; None if unknown or off."""
    query = (
        select(LeadWebhook, Tenant)
        .join(Tenant, Tenant.id == LeadWebhook.tenant_id)
        .where(LeadWebhook.token == token, LeadWebhook.active.is_(True))
    )
    row = (await connection.execute(query)).first()
    if row is None:
        return None
    webhook_columns = {column.key: getattr(row, column.key) for column in LeadWebhook.__table__.columns}
    hook = LeadWebhookRow(**webhook_columns)
    tenant = await get_tenant(connection, hook.tenant_id)
    assert tenant is not None
    return hook, tenant
