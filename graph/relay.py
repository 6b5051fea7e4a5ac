"""Relay connections: `edges { cursor node }`, `pageInfo`, a lazily counted `totalCount`, opaque cursors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

import strawberry

from domain import cursors
from domain.errors import BadInput
from persistence.keyset import MAX_PAGE, PageKey

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")

DEFAULT_PAGE = 50


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(
    description="A page of a list, newest first; pass `pageInfo.endCursor` as `after` for the next."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    # Counted only when asked for: a count over a large tenant costs more than the page itself.
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items match the filter, across all pages.")
    async def total_count(self) -> int:
        return await self.count()


def encode_cursor(key: PageKey) -> str:
    """An opaque cursor for a page key (clients must not parse it)."""
    sort = key.sort.isoformat() if key.sort is not None else ""
    return cursors.wrap(cursors.page_key_text(sort, str(key.id)))


def decode_cursor(cursor: str | None, *, field: str = "after") -> PageKey | None:
    """The page key of a cursor this API handed out; BAD_USER_INPUT for anything else."""
    if cursor is None:
        return None
    try:
        version, sort, key_id = cursors.unwrap(cursor).split(cursors.PAGE_KEY_SEPARATOR)
        if version != cursors.PAGE_KEY_VERSION:
            raise ValueError(version)
        instant = datetime.fromisoformat(sort) if sort else None
        if instant is not None:
            if instant.utcoffset() is None:
                raise ValueError(sort)
            # Cursors handed out carry a stored time; a forged one past year 1 or 9999 in UTC
            # would overflow in the driver (OverflowError is an ArithmeticError, not a ValueError).
            try:
                instant = instant.astimezone(UTC)
            except OverflowError:
                raise ValueError(sort) from None
        return PageKey(sort=instant, id=UUID(key_id))
    except ValueError as error:
        raise BadInput(
            "not a cursor from this list", fields={field: "not a cursor from this list"}
        ) from error


def page_size(first: int | None, *, field: str = "first") -> int:
    """`first` checked against the 0..100 bound; DEFAULT_PAGE when absent."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadInput(f"first must be between 0 and {MAX_PAGE}", fields={field: f"between 0 and {MAX_PAGE}"})
    return first


def connection(
    rows: Sequence[RowT],
    *,
    has_next: bool,
    after: PageKey | None,
    key: Callable[[RowT], PageKey],
    node: Callable[[RowT], NodeT],
    count: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """Wrap a page of rows (already in order) as a connection."""
    edges = [Edge(cursor=encode_cursor(key(row)), node=node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )
