"""Admin queries on the company Dialpad endpoint: its setup, and the events it could not route."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import cast

import strawberry
from strawberry.scalars import JSON

from graph.context import Info
from persistence.dialpad_company import InboxRow
from services.setup_dialpad import dialpad_setup_status, list_dialpad_inbox


@strawberry.type(description="The company-wide Dialpad webhook every tenant's call events arrive on.")
class DialpadSetup:
    endpoint_url: str = strawberry.field(description="POST /webhooks/dialpad on this server's public URL.")
    secret: str | None = strawberry.field(
        description="The HS256 secret Dialpad signs events with; null until set up (first provisioning or "
        "`calltrax dialpad setup`)."
    )
    webhook_id: strawberry.ID | None
    subscription_id: strawberry.ID | None


@strawberry.enum(description="Why a company event is in the inbox.")
class DialpadInboxReason(Enum):
    NO_TENANT = "NO_TENANT"
    INTERNAL = "INTERNAL"


@strawberry.type(
    description="A company Dialpad event no tenant was found for (kept raw), or an internal call."
)
class DialpadInboxEvent:
    id: strawberry.ID
    call_id: strawberry.ID = strawberry.field(description="Dialpad's call_id of the leg.")
    state: str
    event_at: datetime
    external_number: str | None
    reason: DialpadInboxReason = strawberry.field(
        description="NO_TENANT: no call center of a tenant on the call and no open lead at the number; routed "
        "when a lead with the number arrives. INTERNAL: a call between users, kept and never counted."
    )
    received_at: datetime
    routed_tenant_id: strawberry.ID | None = strawberry.field(
        description="The tenant it went to later, if any."
    )
    routed_at: datetime | None
    raw: JSON

    @classmethod
    def from_row(cls, row: InboxRow) -> DialpadInboxEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            call_id=strawberry.ID(row.call_external_id),
            state=row.state,
            event_at=datetime.fromtimestamp(row.event_timestamp_ms / 1000, tz=UTC),
            external_number=row.external_number,
            reason=DialpadInboxReason(row.reason),
            received_at=row.received_at,
            routed_tenant_id=strawberry.ID(str(row.routed_tenant_id)) if row.routed_tenant_id else None,
            routed_at=row.routed_at,
            raw=cast(JSON, row.raw),
        )


@strawberry.type
class ProvisioningQuery:
    @strawberry.field(
        description="Admins: the company Dialpad endpoint URL and the secret events are signed with."
    )
    async def dialpad_setup(self, info: Info) -> DialpadSetup:
        setup = await dialpad_setup_status(info.context.deps, actor=info.context.require_principal())
        return DialpadSetup(
            endpoint_url=setup.endpoint_url,
            secret=setup.secret,
            webhook_id=strawberry.ID(setup.webhook_id) if setup.webhook_id else None,
            subscription_id=strawberry.ID(setup.subscription_id) if setup.subscription_id else None,
        )

    @strawberry.field(description="Admins: company Dialpad events not routed to a tenant, newest first.")
    async def dialpad_inbox(
        self, info: Info, waiting_only: bool = True, first: int = 50
    ) -> list[DialpadInboxEvent]:
        rows = await list_dialpad_inbox(
            info.context.deps, actor=info.context.require_principal(), waiting_only=waiting_only, limit=first
        )
        return [DialpadInboxEvent.from_row(row) for row in rows]
