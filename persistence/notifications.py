"""Notification targets, the dispatcher's per-tenant cursor, the delivery queue and its attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import EventType
from domain.notifications import Channel, DeliveryStatus, NotificationKind
from persistence.tables import NotificationAttempt, NotificationDelivery, NotificationTarget


@dataclass(frozen=True)
class TargetRow:
    id: UUID
    tenant_id: UUID
    url: str | None
    emails: list[str]
    events: frozenset[NotificationKind]
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class EventRow:
    seq: int
    type: EventType
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewDelivery:
    tenant_id: UUID
    target_id: UUID
    channel: Channel
    event_seq: int
    event_type: EventType
    kind: NotificationKind
    payload: dict[str, Any]
    occurred_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class ClaimedDelivery:
    """A due delivery leased to this worker, with what sending it needs."""

    id: int
    tenant_id: UUID
    tenant_name: str
    channel: Channel
    event_seq: int
    event_type: str
    kind: NotificationKind
    payload: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    # This attempt's number (1 for the first).
    attempt: int
    url: str | None
    emails: list[str]
    secret: str | None


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: int
    attempt: int
    started_at: datetime
    duration_ms: int
    ok: bool
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    tenant_id: UUID
    target_id: UUID
    channel: Channel
    event_seq: int
    event_type: str
    kind: NotificationKind
    lead_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    occurred_at: datetime
    created_at: datetime
    delivered_at: datetime | None


def _target(row: Any) -> TargetRow:
    return TargetRow(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        emails=list(row.emails),
        events=frozenset(NotificationKind(kind) for kind in row.events),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(
        id=row.id,
        tenant_id=row.tenant_id,
        target_id=row.target_id,
        channel=Channel(row.channel),
        event_seq=row.event_seq,
        event_type=row.event_type,
        kind=NotificationKind(row.kind),
        lead_id=row.lead_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


# Targets


async def insert_target(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    url: str | None,
    emails: list[str],
    events: Sequence[NotificationKind],
    secret: str | None,
    created_by: str | None,
) -> TargetRow:
    statement = (
        insert(NotificationTarget)
        .values(
            tenant_id=tenant_id,
            url=url,
            emails=emails,
            events=sorted(kind.value for kind in events),
            secret=secret,
            created_by=created_by,
        )
        .returning(NotificationTarget)
    )
    return _target((await connection.execute(statement)).one())


async def list_targets(connection: AsyncConnection, tenant_id: UUID) -> list[TargetRow]:
    """The tenant's targets that have not been deleted, oldest first."""
    query = (
        select(NotificationTarget)
        .where(NotificationTarget.tenant_id == tenant_id, NotificationTarget.deleted_at.is_(None))
        .order_by(NotificationTarget.created_at, NotificationTarget.id)
    )
    return [_target(row) for row in await connection.execute(query)]


async def delete_target(connection: AsyncConnection, target_id: UUID, *, at: datetime) -> bool:
    """Mark the target deleted and cancel its pending deliveries (history stays); False if unknown."""
    deleted = await connection.execute(
        update(NotificationTarget)
        .where(NotificationTarget.id == target_id, NotificationTarget.deleted_at.is_(None))
        .values(deleted_at=at)
        .returning(NotificationTarget.id)
    )
    if deleted.first() is None:
        return False
    await connection.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.target_id == target_id,
            NotificationDelivery.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None)
    )
    return True


# The dispatcher

# Tenants whose numbered history is ahead of their notification cursor (event_sequences and the
# cursors are one row per tenant, so this stays cheap however long the history is).
_TENANTS_BEHIND = text(
    """
    SELECT s.tenant_id
    FROM event_sequences AS s
    LEFT JOIN notification_cursors AS c ON c.tenant_id = s.tenant_id
    WHERE s.last_seq > coalesce(c.last_seq, 0)
    ORDER BY s.tenant_id
    LIMIT :limit
    """
)

# Only for a tenant that still exists, held (KEY SHARE) until the transaction ends: the dispatcher
# lists the tenants behind first, and one deleted since then is skipped rather than failing the
# insert's foreign key.
_ENSURE_CURSOR = text(
    """
    INSERT INTO notification_cursors (tenant_id)
    SELECT id FROM tenants WHERE id = :tenant_id FOR KEY SHARE
    ON CONFLICT (tenant_id) DO NOTHING
    """
)

# SKIP LOCKED: while one process dispatches a tenant, the others move on to other tenants.
_LOCK_CURSOR = text(
    "SELECT last_seq FROM notification_cursors WHERE tenant_id = :tenant_id FOR UPDATE SKIP LOCKED"
)

_EVENTS_AFTER = text(
    """
    SELECT seq, type, payload, created_at FROM events
    WHERE tenant_id = :tenant_id AND seq > :after
    ORDER BY seq
    LIMIT :limit
    """
)


async def tenants_behind(connection: AsyncConnection, *, limit: int = 100) -> list[UUID]:
    return [row.tenant_id for row in await connection.execute(_TENANTS_BEHIND, {"limit": limit})]


async def lock_cursor(connection: AsyncConnection, tenant_id: UUID) -> int | None:
    """The tenant's cursor, locked for this transaction; None when another process holds it or the
    tenant is gone."""
    await connection.execute(_ENSURE_CURSOR, {"tenant_id": tenant_id})
    row = (await connection.execute(_LOCK_CURSOR, {"tenant_id": tenant_id})).first()
    return None if row is None else int(row.last_seq)


async def events_after(
    connection: AsyncConnection, tenant_id: UUID, after: int, *, limit: int
) -> list[EventRow]:
    """Numbered events after `after` in seq order (seqs are dense and commit in order, so none is skipped)."""
    rows = await connection.execute(_EVENTS_AFTER, {"tenant_id": tenant_id, "after": after, "limit": limit})
    return [
        EventRow(seq=row.seq, type=EventType(row.type), payload=row.payload, created_at=row.created_at)
        for row in rows
    ]


async def active_targets(connection: AsyncConnection, tenant_id: UUID) -> list[TargetRow]:
    return await list_targets(connection, tenant_id)


async def insert_deliveries(connection: AsyncConnection, deliveries: Sequence[NewDelivery]) -> int:
    """Queue deliveries; one already queued for the same (target, event, channel) is left alone."""
    if not deliveries:
        return 0
    statement = (
        pg_insert(NotificationDelivery)
        .values(
            [
                {
                    "tenant_id": delivery.tenant_id,
                    "target_id": delivery.target_id,
                    "channel": delivery.channel.value,
                    "event_seq": delivery.event_seq,
                    "event_type": delivery.event_type.value,
                    "kind": delivery.kind.value,
                    "payload": delivery.payload,
                    "occurred_at": delivery.occurred_at,
                    "next_attempt_at": delivery.next_attempt_at,
                }
                for delivery in deliveries
            ]
        )
        .on_conflict_do_nothing(index_elements=["target_id", "event_seq", "channel"])
        .returning(NotificationDelivery.id)
    )
    return len((await connection.execute(statement)).all())


async def advance_cursor(connection: AsyncConnection, tenant_id: UUID, last_seq: int) -> None:
    await connection.execute(
        text(
            "UPDATE notification_cursors SET last_seq = :seq, updated_at = now() WHERE tenant_id = :tenant_id"
        ),
        {"tenant_id": tenant_id, "seq": last_seq},
    )


async def latest_seq(connection: AsyncConnection, tenant_id: UUID) -> int:
    row = await connection.execute(
        text("SELECT last_seq FROM event_sequences WHERE tenant_id = :tenant_id"), {"tenant_id": tenant_id}
    )
    return int(row.scalar_one_or_none() or 0)


# The worker

# Leasing (next_attempt_at moved past the send's timeout) lets the send run outside any transaction;
# SKIP LOCKED lets several workers and processes take disjoint batches. A worker that dies mid-send
# leaves the row pending, and it is tried again once the lease runs out.
_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM notification_deliveries
        WHERE status = 'pending' AND next_attempt_at <= :now
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE notification_deliveries AS d
    SET next_attempt_at = :lease_until, attempts = d.attempts + 1
    FROM due, notification_targets AS t, tenants AS n
    WHERE d.id = due.id AND t.id = d.target_id AND n.id = d.tenant_id
    RETURNING d.id, d.tenant_id, n.name AS tenant_name, d.channel, d.event_seq, d.event_type, d.kind,
        d.payload, d.occurred_at, d.created_at, d.attempts, t.url, t.emails, t.secret
    """
)


async def claim_due(
    connection: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    rows = await connection.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit})
    return [
        ClaimedDelivery(
            id=row.id,
            tenant_id=row.tenant_id,
            tenant_name=row.tenant_name,
            channel=Channel(row.channel),
            event_seq=row.event_seq,
            event_type=row.event_type,
            kind=NotificationKind(row.kind),
            payload=row.payload,
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            attempt=row.attempts,
            url=row.url,
            emails=list(row.emails),
            secret=row.secret,
        )
        for row in rows
    ]


async def record_attempt(
    connection: AsyncConnection,
    *,
    delivery_id: int,
    attempt: int,
    started_at: datetime,
    duration_ms: int,
    ok: bool,
    status_code: int | None,
    error: str | None,
    status: DeliveryStatus,
    next_attempt_at: datetime | None,
    finished_at: datetime,
) -> None:
    """Log the attempt and move the delivery on (unless its target was deleted meanwhile)."""
    await connection.execute(
        insert(NotificationAttempt).values(
            delivery_id=delivery_id,
            attempt=attempt,
            started_at=started_at,
            duration_ms=duration_ms,
            ok=ok,
            status_code=status_code,
            error=error,
        )
    )
    await connection.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == delivery_id,
            NotificationDelivery.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=status.value,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=error,
            delivered_at=finished_at if ok else None,
        )
    )


# Reading for admins

_DELIVERY_COLUMNS = (
    NotificationDelivery.id,
    NotificationDelivery.tenant_id,
    NotificationDelivery.target_id,
    NotificationDelivery.channel,
    NotificationDelivery.event_seq,
    NotificationDelivery.event_type,
    NotificationDelivery.kind,
    NotificationDelivery.payload["lead"]["id"].astext.label("lead_id"),
    NotificationDelivery.status,
    NotificationDelivery.attempts,
    NotificationDelivery.next_attempt_at,
    NotificationDelivery.last_status_code,
    NotificationDelivery.last_error,
    NotificationDelivery.occurred_at,
    NotificationDelivery.created_at,
    NotificationDelivery.delivered_at,
)


async def list_deliveries(
    connection: AsyncConnection, tenant_id: UUID, *, first: int, before_id: int | None
) -> tuple[list[DeliveryRow], bool, int]:
    """Newest first, keyset-paged on id: (page, has_next_page, total count)."""
    query = select(*_DELIVERY_COLUMNS).where(NotificationDelivery.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(NotificationDelivery.id < before_id)
    rows = (await connection.execute(query.order_by(NotificationDelivery.id.desc()).limit(first + 1))).all()
    total = (
        await connection.execute(
            select(func.count())
            .select_from(NotificationDelivery)
            .where(NotificationDelivery.tenant_id == tenant_id)
        )
    ).scalar_one()
    return [_delivery(row) for row in rows[:first]], len(rows) > first, int(total)


async def attempts_for(
    connection: AsyncConnection, delivery_ids: Sequence[int]
) -> dict[int, list[AttemptRow]]:
    """Every attempt of these deliveries in one statement, in attempt order."""
    found: dict[int, list[AttemptRow]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    rows = await connection.execute(
        select(NotificationAttempt)
        .where(NotificationAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(NotificationAttempt.delivery_id, NotificationAttempt.attempt)
    )
    for row in rows:
        found[row.delivery_id].append(
            AttemptRow(
                delivery_id=row.delivery_id,
                attempt=row.attempt,
                started_at=row.started_at,
                duration_ms=row.duration_ms,
                ok=row.ok,
                status_code=row.status_code,
                error=row.error,
            )
        )
    return found
