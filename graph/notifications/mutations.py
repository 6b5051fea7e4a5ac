"""Mutations on notification targets (admins only)."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.notifications.types import CreatedNotificationTarget, NotificationTarget, NotificationTargetInput
from services.notifications import create_notification_target, delete_notification_target


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(
        description="Add a notification target; the answer carries its signing secret, once."
    )
    async def create_notification_target(
        self, info: Info, tenant_id: strawberry.ID, input: NotificationTargetInput
    ) -> CreatedNotificationTarget:
        created = await create_notification_target(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
            url=input.url,
            emails=input.emails or [],
            events=input.events,
        )
        return CreatedNotificationTarget(
            target=NotificationTarget.from_row(created.target), secret=created.secret
        )

    @strawberry.mutation(description="Delete a notification target; its pending deliveries are cancelled.")
    async def delete_notification_target(self, info: Info, id: strawberry.ID) -> bool:
        await delete_notification_target(
            info.context.deps, actor=info.context.require_principal(), target_id=parse_uuid(id, field="id")
        )
        return True
