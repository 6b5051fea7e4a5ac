"""Event rows: numbering committed rows per tenant, reading a tenant's history, pruning it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import EventType, PublishedEvent
from persistence.db import DriverStatement, json_value
from persistence.tables import Event
from persistence.unit_of_work import Transaction

# No row for a tenant deleted since its events were committed (they went with it): nothing to number.
_LOCK_SEQUENCE = DriverStatement(
    text(
        "INSERT INTO event_sequences (tenant_id, last_seq) SELECT id, 0 FROM tenants WHERE id = :tenant_id "
        "ON CONFLICT (tenant_id) DO UPDATE SET last_seq = event_sequences.last_seq "
        "RETURNING last_seq"
    )
)

# Runs after the sequence row is locked, so its snapshot sees every batch numbered before; saves the
# last seq it gave in the same statement.
_NUMBER_PENDING = DriverStatement(
    text(
        """
    WITH pending AS (
        SELECT id, row_number() OVER (ORDER BY id) AS rn
        FROM events
        WHERE tenant_id = :tenant_id AND seq IS NULL
        ORDER BY id
        LIMIT :limit
    ),
    numbered AS (
        UPDATE events AS e SET seq = :base + pending.rn
        FROM pending
        WHERE e.id = pending.id
        RETURNING e.seq, e.type, e.payload
    ),
    saved AS (
        UPDATE event_sequences SET last_seq = (SELECT max(seq) FROM numbered)
        WHERE tenant_id = :tenant_id AND EXISTS (SELECT 1 FROM numbered)
    )
    SELECT seq, type, payload FROM numbered ORDER BY seq
    """
    )
)


async def number_pending(tx: Transaction, tenant_id: UUID, *, limit: int = 5000) -> list[PublishedEvent]:
    """Give the tenant's committed, unnumbered events the next seqs, in insertion order.

    Concurrent callers for one tenant wait on its sequence row (locked until `tx` ends). A tenant
    that no longer exists has nothing to number."""
    locked = await tx.fetchrow(_LOCK_SEQUENCE, {"tenant_id": tenant_id})
    if locked is None:
        return []
    rows = await tx.fetch(
        _NUMBER_PENDING, {"tenant_id": tenant_id, "base": locked["last_seq"], "limit": limit}
    )
    return [
        PublishedEvent(
            tenant_id=tenant_id,
            seq=row["seq"],
            type=EventType(row["type"]),
            payload=json_value(row["payload"]),
        )
        for row in rows
    ]


async def tenants_with_pending(connection: AsyncConnection) -> list[UUID]:
    """Tenants with committed events not yet numbered (a crash between commit and relay leaves these)."""
    rows = await connection.execute(text("SELECT DISTINCT tenant_id FROM events WHERE seq IS NULL"))
    return [row[0] for row in rows]


async def read_after(
    connection: AsyncConnection, tenant_id: UUID, after: int, *, before: int | None = None, limit: int = 1000
) -> list[PublishedEvent]:
    """The tenant's numbered events with `after < seq [< before]`, in seq order."""
    query = select(Event.seq, Event.type, Event.payload).where(
        Event.tenant_id == tenant_id, Event.seq > after
    )
    if before is not None:
        query = query.where(Event.seq < before)
    rows = (await connection.execute(query.order_by(Event.seq).limit(limit))).all()
    return [
        PublishedEvent(tenant_id=tenant_id, seq=row.seq, type=EventType(row.type), payload=row.payload)
        for row in rows
    ]


# One statement for many replays: each (tenant, after, before) range gets its own first `limit` rows.
_READ_AFTER_MANY = text(
    """
    SELECT r.i, e.seq, e.type, e.payload
    FROM unnest(CAST(:tenants AS uuid[]), CAST(:afters AS bigint[]), CAST(:befores AS bigint[]))
         WITH ORDINALITY AS r(tenant_id, after, before, i)
    CROSS JOIN LATERAL (
        SELECT seq, type, payload FROM events
        WHERE tenant_id = r.tenant_id AND seq > r.after AND seq < r.before
        ORDER BY seq
        LIMIT :limit
    ) AS e
    ORDER BY r.i, e.seq
    """
)
# `before` for "no upper bound" (seq is a bigint).
_NO_BOUND = 2**63 - 1

ReplayRange = tuple[UUID, int, int | None]


async def read_after_many(
    connection: AsyncConnection, ranges: Sequence[ReplayRange], *, limit: int = 1000
) -> dict[ReplayRange, list[PublishedEvent]]:
    """`read_after` for many (tenant, after, before) ranges in one statement."""
    wanted = list(dict.fromkeys(ranges))
    found: dict[ReplayRange, list[PublishedEvent]] = {key: [] for key in wanted}
    if not wanted:
        return found
    rows = await connection.execute(
        _READ_AFTER_MANY,
        {
            "tenants": [tenant for tenant, _, _ in wanted],
            "afters": [after for _, after, _ in wanted],
            "befores": [_NO_BOUND if before is None else before for _, _, before in wanted],
            "limit": limit,
        },
    )
    for row in rows:
        key = wanted[row.i - 1]
        found[key].append(
            PublishedEvent(
                tenant_id=key[0], seq=row.seq, type=EventType(row.type), payload=json_value(row.payload)
            )
        )
    return found


async def latest_seqs(connection: AsyncConnection, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
    """The last numbered seq of each tenant (0 when it has none)."""
    rows = await connection.execute(
        text("SELECT tenant_id, last_seq FROM event_sequences WHERE tenant_id = ANY(:ids)"),
        {"ids": list(tenant_ids)},
    )
    found = {row.tenant_id: row.last_seq for row in rows}
    return {tenant_id: found.get(tenant_id, 0) for tenant_id in tenant_ids}


async def prune_before(connection: AsyncConnection, cutoff: datetime) -> int:
    """Delete numbered events older than `cutoff`; returns how many went."""
    result = await connection.execute(delete(Event).where(Event.created_at < cutoff, Event.seq.is_not(None)))
    return int(getattr(result, "rowcount", 0) or 0)


async def all_latest_seqs(connection: AsyncConnection) -> dict[UUID, int]:
    """The last numbered seq of every tenant that has numbered events."""
    rows = await connection.execute(text("SELECT tenant_id, last_seq FROM event_sequences"))
    return {row.tenant_id: row.last_seq for row in rows}
