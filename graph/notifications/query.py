"""Queries about notification targets and deliveries (admins only)."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.notifications.types import NotificationDeliveryConnection, NotificationTarget
from services.notifications import list_notification_deliveries, list_notification_targets


@strawberry.type
class NotificationsQuery:
    @strawberry.field(description="The tenant's notification targets (admins only; secrets are never shown).")
    async def notification_targets(self, info: Info, tenant_id: strawberry.ID) -> list[NotificationTarget]:
        rows = await list_notification_targets(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return [NotificationTarget.from_row(row) for row in rows]

    @strawberry.field(
        description="The tenant's notification deliveries with every attempt, newest first (admins only)."
    )
    async def notification_deliveries(
        self, info: Info, tenant_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> NotificationDeliveryConnection:
        page = await list_notification_deliveries(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
            first=first,
            after=after,
        )
        return NotificationDeliveryConnection.from_page(page, after=after)
