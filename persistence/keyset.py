"""Keyset pagination, newest first: `ORDER BY sort DESC, id DESC` resumed after a (sort, id) key."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, any_, bindparam, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnClause, UnaryExpression

MAX_PAGE = 100


@dataclass(frozen=True)
class PageKey:
    """Where a page ended: the last row's sort value (None sorts first, as in a DESC index) and id."""

    sort: datetime | None
    id: UUID


def after_key(
    sort: ColumnElement[datetime | None], id_: ColumnElement[UUID], key: PageKey
) -> ColumnElement[bool]:
    """Rows strictly after `key` in `sort DESC, id DESC` order (PostgreSQL puts NULLs first in DESC)."""
    if key.sort is None:
        return or_(sort.is_not(None), and_(sort.is_(None), id_ < key.id))
    return and_(sort.is_not(None), or_(sort < key.sort, and_(sort == key.sort, id_ < key.id)))


def newest_first(
    sort: ColumnElement[datetime | None], id_: ColumnElement[UUID]
) -> list[UnaryExpression[Any]]:
    return [sort.desc(), id_.desc()]


def uuid_in(
    column: ColumnClause[UUID] | ColumnElement[UUID], ids: frozenset[UUID] | list[UUID], name: str
) -> ColumnElement[bool]:
    """`column = ANY(:name)`: one array parameter, so the statement text is the same for any count."""
    return column == any_(bindparam(name, value=list(ids), type_=ARRAY(PG_UUID(as_uuid=True))))


async def stream_in_batches(
    connection: AsyncConnection, query: Select[Any], batch: int
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """`query`'s rows `batch` at a time from a server-side cursor (the connection must be in a transaction)."""
    result = await connection.stream(query.execution_options(yield_per=batch))
    try:
        async for rows in result.partitions(batch):
            yield rows
    finally:
        await result.close()
