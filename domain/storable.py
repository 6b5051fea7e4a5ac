"""What CallTrax does not store: text PostgreSQL cannot hold (NUL, lone surrogates), NaN and infinite
numbers (jsonb has none), nesting too deep to accept, and times that cannot be shown in every timezone."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

# The times CallTrax stores as facts. A stored time is shown in each tenant's timezone (CSV exports,
# metrics by local day), and a local time must stay within Python's years 1-9999: a day inside
# either end leaves room for every UTC offset (at most 26 hours apart from UTC). A time outside
# these bounds is impossible (no call happens in year 9999) and is read as unknown.
EARLIEST_TIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 30, 23, 59, 59, 999000, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# The same bounds in ms since the epoch (the unit of Dialpad's event times).
EARLIEST_MS = (EARLIEST_TIME - _EPOCH) // _MS
LATEST_MS = (LATEST_TIME - _EPOCH) // _MS


def storable_ms(ms: int) -> bool:
    """Whether a time in ms since the epoch is within the times CallTrax stores."""
    return EARLIEST_MS <= ms <= LATEST_MS


def storable_time(value: datetime) -> bool:
    """Whether an aware datetime is within the times CallTrax stores."""
    return EARLIEST_TIME <= value <= LATEST_TIME


def unstorable(value: Any, *, max_depth: int) -> str | None:
    """Why `value` (JSON-like data) cannot be stored, as "contains ..." / "nests ...", or None.

    Iterative, so a hostile document cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"nests deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                reason = _text_problem(key) if isinstance(key, str) else None
                if reason:
                    return reason
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            reason = _text_problem(item)
            if reason:
                return reason
        elif isinstance(item, float) and not math.isfinite(item):
            # `1e400` parses as infinity; jsonb has no such number.
            return "contains a number that is not finite (NaN or infinity, e.g. 1e400)"
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate"
    return None
