"""Opaque page cursors: a list hands out its own key text in URL-safe base64, which clients must not parse."""

from __future__ import annotations

import base64


def wrap(raw: str) -> str:
    """The cursor for a list's key text (unpadded: cursors travel in URLs and JSON)."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def unwrap(cursor: str) -> str:
    """The key text inside a cursor (padded or not); ValueError when it is not one."""
    # binascii.Error and UnicodeDecodeError are ValueErrors.
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
