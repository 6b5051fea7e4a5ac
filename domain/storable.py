"""What PostgreSQL cannot store in text or jsonb (NUL, lone surrogates, NaN and infinite numbers), and
nesting too deep to accept."""

from __future__ import annotations

import math
from typing import Any


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
