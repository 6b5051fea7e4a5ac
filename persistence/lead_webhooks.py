"""Changing lead webhooks: new tokens (rotation) and switching them on or off."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from persistence.tables import LeadWebhook
from persistence.tenants import LeadWebhookRow, new_webhook_token

webhooks = LeadWebhook.__table__


def _row(row: Any) -> LeadWebhookRow:
    return LeadWebhookRow(**{column.key: getattr(row, column.key) for column in webhooks.columns})


async def rotate_tokens(
    connection: AsyncConnection, *, tenant_id: UUID, at: datetime
) -> list[LeadWebhookRow]:
    """A fresh token for each of the tenant's webhooks (the old URLs stop matching on commit)."""
    current = (
        await connection.execute(
            select(webhooks.c.id)
            .where(webhooks.c.tenant_id == tenant_id)
            .order_by(webhooks.c.created_at)
            .with_for_update()
        )
    ).all()
    rotated: list[LeadWebhookRow] = []
    for (webhook_id,) in current:
        row = (
            await connection.execute(
                update(LeadWebhook)
                .where(webhooks.c.id == webhook_id)
                .values(token=new_webhook_token(), rotated_at=at)
                .returning(webhooks)
            )
        ).one()
        rotated.append(_row(row))
    return rotated


async def set_active(connection: AsyncConnection, *, webhook_id: UUID, active: bool) -> LeadWebhookRow | None:
    row = (
        await connection.execute(
            update(LeadWebhook).where(webhooks.c.id == webhook_id).values(active=active).returning(webhooks)
        )
    ).first()
    return _row(row) if row else None
