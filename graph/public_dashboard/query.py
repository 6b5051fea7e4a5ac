"""`publicDashboard(token)`: no login; the token is the credential."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.public_dashboard.types import PublicDashboard
from services.public_dashboard import public_dashboard


@strawberry.type
class PublicDashboardQuery:
    @strawberry.field(description="A public link's dashboard, no login needed; NOT_FOUND once revoked.")
    async def public_dashboard(self, info: Info, token: str) -> PublicDashboard:
        return PublicDashboard.of(await public_dashboard(info.context.deps, token=token))
