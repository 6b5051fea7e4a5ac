"""Rows read by key, many keys in one statement: what the GraphQL doors' DataLoaders batch into."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.deps import Deps

_Value = TypeVar("_Value")

# A persistence function answering many keys at once (`WHERE key = ANY(...)`): found rows by key.
KeyedRead = Callable[[AsyncConnection, list[UUID]], Awaitable[dict[UUID, _Value]]]


async def read_by_keys(deps: Deps, read: KeyedRead[_Value], keys: list[UUID]) -> list[_Value | None]:
    """One row per key, in key order (None where there is none)."""
    async with deps.reader() as connection:
        found = await read(connection, keys)
    return [found.get(key) for key in keys]


async def read_lists_by_keys(
    deps: Deps, read: KeyedRead[list[_Value]], keys: list[UUID]
) -> list[list[_Value]]:
    """Every key's rows, in key order (empty where there are none)."""
    async with deps.reader() as connection:
        found = await read(connection, keys)
    return [found.get(key, []) for key in keys]
