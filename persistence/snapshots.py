"""JSON-safe snapshots of rows, carried in event payloads so subscribers need no query per event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID


def jsonable(value: Any) -> Any:
    """uuid -> str, datetime -> ISO 8601 UTC, Decimal -> float, enums -> value; containers recursively."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def snapshot(row: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of a result row (or a dataclass / mapping) as JSON-safe values, minus `exclude`."""
    skipped = set(exclude)
    if hasattr(row, "_mapping"):
        items = dict(row._mapping)
    elif hasattr(row, "__dataclass_fields__"):
        items = {name: getattr(row, name) for name in row.__dataclass_fields__}
    else:
        items = dict(row)
    return {key: jsonable(value) for key, value in items.items() if key not in skipped}
