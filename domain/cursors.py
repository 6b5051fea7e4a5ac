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


# A list's page key as text: this version, the sort value's isoformat() (empty when it has none) and
# the row's id, joined by the separator. graph/relay.py writes and reads it; the compiled reads'
# SQL (persistence/graph_reads.py) is generated from these two constants.
PAGE_KEY_VERSION = "k1"
PAGE_KEY_SEPARATOR = "|"


def page_key_text(sort: str, row_id: str) -> str:
    """A page key's text (see above); `sort` is an isoformat() or empty."""
    return PAGE_KEY_SEPARATOR.join((PAGE_KEY_VERSION, sort, row_id))
