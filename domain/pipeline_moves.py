"""Which lead events change the pipeline board: a lead entering, moving within or leaving it."""

from __future__ import annotations

from enum import StrEnum

from domain.events import EventType, PublishedEvent
from domain.leads import OPEN_STATUSES, LeadStatus


class BoardMove(StrEnum):
    ENTERED = "ENTERED"
    MOVED = "MOVED"
    LEFT = "LEFT"


def board_move(event: PublishedEvent) -> BoardMove | None:
    """The board change an event makes, or None when the board stays as it was.

    Status changes between open statuses (new -> contacted) keep the lead in its column; writers
    may say the previous status as `from_status`, otherwise an open status is taken as unchanged."""
    lead = event.payload.get("lead")
    if not isinstance(lead, dict) or "status" not in lead:
        return None
    is_open = LeadStatus(lead["status"]) in OPEN_STATUSES
    if event.type is EventType.LEAD_CREATED:
        return BoardMove.ENTERED if is_open else None
    if event.type is EventType.LEAD_STAGE_CHANGED:
        return BoardMove.MOVED if is_open else None
    if event.type is EventType.LEAD_UPDATED and "status" in (event.payload.get("changes") or []):
        previous = event.payload.get("from_status")
        was_open = previous is None or LeadStatus(previous) in OPEN_STATUSES
        if was_open and not is_open:
            return BoardMove.LEFT
        if not was_open and is_open:
            return BoardMove.ENTERED
    return None
