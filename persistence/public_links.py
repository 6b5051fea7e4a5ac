"""Public dashboard links: an unguessable token that shows one tenant's figures without a login."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.tables import PublicLink, Tenant

links = PublicLink.__table__
tenants = Tenant.__table__


@dataclass(frozen=True)
class PublicLinkRow:
    id: UUID
    tenant_id: UUID
    token: str
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class OpenLink:
    """An unrevoked link with what its page shows about the tenant (its name, nothing else)."""

    link_id: UUID
    tenant_id: UUID
    tenant_name: str
    timezone: str


def new_public_token() -> str:
    """An unguessable URL-safe token: 256 random bits."""
    return secrets.token_urlsafe(32)


def _row(row: Any) -> PublicLinkRow:
    return PublicLinkRow(**{column.key: getattr(row, column.key) for column in links.columns})


async def insert_link(
    connection: AsyncConnection, *, tenant_id: UUID, created_by: str | None
) -> PublicLinkRow:
    row = (
        await connection.execute(
            insert(PublicLink)
            .values(tenant_id=tenant_id, token=new_public_token(), created_by=created_by)
            .returning(links)
        )
    ).one()
    return _row(row)


async def get_link(connection: AsyncConnection, link_id: UUID, *, lock: bool = False) -> PublicLinkRow | None:
    query = select(links).where(links.c.id == link_id)
    row = (await connection.execute(query.with_for_update() if lock else query)).first()
    return _row(row) if row else None


async def revoke_link(connection: AsyncConnection, *, link_id: UUID, at: datetime) -> PublicLinkRow | None:
    """Revoke once: a second revoke leaves the first time in place."""
    row = (
        await connection.execute(
            update(PublicLink)
            .where(links.c.id == link_id, links.c.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(links)
        )
    ).first()
    return _row(row) if row else None


async def open_link(connection: AsyncConnection, token: str) -> OpenLink | None:
    """The unrevoked link with this token, and its tenant's name and timezone; None otherwise."""
    row = (
        await connection.execute(
            select(links.c.id, links.c.tenant_id, tenants.c.name, tenants.c.timezone)
            .select_from(links.join(tenants, tenants.c.id == links.c.tenant_id))
            .where(links.c.token == token, links.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    return OpenLink(link_id=row.id, tenant_id=row.tenant_id, tenant_name=row.name, timezone=row.timezone)
