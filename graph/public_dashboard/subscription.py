"""`publicDashboardChanged(token)`: fresh figures when they change, at most a few times a second."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.errors import Unavailable
from graph.context import Info
from graph.public_dashboard.types import PublicDashboard
from services.public_dashboard import watch_public_dashboard


@strawberry.type
class PublicDashboardSubscription:
    @strawberry.subscription(
        description="The dashboard now, then again whenever its figures change (throttled); no login "
        "needed. Ends with NOT_FOUND when the link is revoked."
    )
    async def public_dashboard_changed(self, info: Info, token: str) -> AsyncGenerator[PublicDashboard, None]:
        if info.context.subscriber is None:
            raise Unavailable("subscriptions are not available on this server")
        stream = watch_public_dashboard(info.context.deps, subscriber=info.context.subscriber, token=token)
        try:
            async for found in stream:
                yield PublicDashboard.of(found)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
