"""GraphQL types for notification targets, deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.notifications import Channel, DeliveryStatus, NotificationKind
from persistence.notifications import AttemptRow, DeliveryRow, TargetRow
from services.notifications import DeliveryPage, encode_cursor

# strawberry.enum marks the domain classes themselves (upper-case names on the wire).
strawberry.enum(NotificationKind, name="NotificationEvent")
strawberry.enum(Channel, name="NotificationChannel")
strawberry.enum(DeliveryStatus, name="NotificationDeliveryStatus")


@strawberry.type(
    description="Where a tenant's notifications go: a signed webhook URL and/or email addresses."
)
class NotificationTarget:
    id: strawberry.ID
    tenant_id: strawberry.ID
    url: str | None
    emails: list[str]
    events: list[NotificationKind]
    created_by: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: TargetRow) -> NotificationTarget:
        return cls(
            id=strawberry.ID(str(row.id)),
            tenant_id=strawberry.ID(str(row.tenant_id)),
            url=row.url,
            emails=row.emails,
            events=sorted(row.events),
            created_by=row.created_by,
            created_at=row.created_at,
        )


@strawberry.type
class CreatedNotificationTarget:
    target: NotificationTarget
    secret: str | None = strawberry.field(
        description=(
            "Signs webhook bodies: X-CallTrax-Signature = 'sha256=' + hex HMAC-SHA256(secret, "
            "X-CallTrax-Timestamp + '.' + body). Shown only here, once; null for email-only targets."
        )
    )


@strawberry.input
class NotificationTargetInput:
    url: str | None = None
    emails: list[str] | None = None
    events: list[NotificationKind] | None = strawberry.field(
        default=None, description="The events to notify; all of them when omitted."
    )


@strawberry.type(description="One try of a delivery.")
class NotificationAttempt:
    attempt: int
    started_at: datetime
    duration_ms: int
    ok: bool
    status_code: int | None
    error: str | None

    @classmethod
    def from_row(cls, row: AttemptRow) -> NotificationAttempt:
        return cls(
            attempt=row.attempt,
            started_at=row.started_at,
            duration_ms=row.duration_ms,
            ok=row.ok,
            status_code=row.status_code,
            error=row.error,
        )


@strawberry.type(description="One event sent to one target over one channel, with every attempt.")
class NotificationDelivery:
    id: strawberry.ID
    target_id: strawberry.ID
    channel: Channel
    event: NotificationKind
    event_type: str
    event_seq: int
    lead_id: strawberry.ID | None
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    occurred_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[NotificationAttempt]

    @classmethod
    def from_row(cls, row: DeliveryRow, attempts: list[AttemptRow]) -> NotificationDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            target_id=strawberry.ID(str(row.target_id)),
            channel=row.channel,
            event=row.kind,
            event_type=row.event_type,
            event_seq=row.event_seq,
            lead_id=strawberry.ID(row.lead_id) if row.lead_id else None,
            status=row.status,
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            attempts=[NotificationAttempt.from_row(attempt) for attempt in attempts],
        )


# Own names rather than a shared PageInfo: the generic Relay connection lives with the lists issue.
@strawberry.type
class NotificationDeliveryPageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class NotificationDeliveryEdge:
    cursor: str
    node: NotificationDelivery


@strawberry.type(description="The tenant's deliveries, newest first.")
class NotificationDeliveryConnection:
    edges: list[NotificationDeliveryEdge]
    page_info: NotificationDeliveryPageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: DeliveryPage, *, after: str | None) -> NotificationDeliveryConnection:
        edges = [
            NotificationDeliveryEdge(
                cursor=encode_cursor(row.id),
                node=NotificationDelivery.from_row(row, page.attempts.get(row.id, [])),
            )
            for row in page.deliveries
        ]
        return cls(
            edges=edges,
            page_info=NotificationDeliveryPageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )
