"""Which lead events change the pipeline board: a lead entering, moving within or leaving it."""

from __future__ import annotations

from enum import StrEnum

from domain.events import EventType, PublishedEvent
from domain.leads import OPEN_STATUSES, LeadStatus, PipelineStage


class BoardMove(StrEnum):
    ENTERED = "ENTERED"
    MOVED = "MOVED"
    LEFT = "LEFT"


def board_move(event: PublishedEvent) -> BoardMove | None:
    """The board change an event makes, or None when the board stays as it was.

    LEAD_STAGE_CHANGED (the stage sweep) moves an open lead to another column, or puts a lead the
    board did not show yet (`from_stage` null) on it. A LEAD_UPDATED status change says where it came
    from (`from_status`, `from_stage`, `to_stage`): open -> booked/closed leaves, booked/closed -> open
    enters, and between open statuses the lead stays in its column (moved if the stages differ).
    Events written before writers said `from_status` are taken as coming from an open status."""
    payload = event.payload
    lead = payload.get("lead")
    if not isinstance(lead, dict) or "status" not in lead:
        return None
    is_open = LeadStatus(lead["status"]) in OPEN_STATUSES
    if event.type is EventType.LEAD_CREATED:
        return BoardMove.ENTERED if is_open else None
    if event.type is EventType.LEAD_STAGE_CHANGED:
        if not is_open:
            return None
        return BoardMove.ENTERED if payload.get("from_stage") is None else BoardMove.MOVED
    if event.type is EventType.LEAD_UPDATED and "status" in (payload.get("changes") or []):
        previous = payload.get("from_status")
        was_open = previous is None or LeadStatus(previous) in OPEN_STATUSES
        if was_open and not is_open:
            return BoardMove.LEFT
        if not was_open and is_open:
            return BoardMove.ENTERED
        if was_open and is_open and payload.get("from_stage") != payload.get("to_stage"):
            return BoardMove.MOVED
    return None


def _stage(value: object) -> PipelineStage | None:
    try:
        return PipelineStage(value) if isinstance(value, str) else None
    except ValueError:
        return None


def move_columns(event: PublishedEvent) -> tuple[PipelineStage | None, PipelineStage | None]:
    """The columns a board move goes from and to (None: off the board, or not said by the writer)."""
    payload = event.payload
    if event.type is EventType.LEAD_CREATED:
        lead = payload.get("lead")
        return None, _stage(lead.get("stage") if isinstance(lead, dict) else None)
    return _stage(payload.get("from_stage")), _stage(payload.get("to_stage"))
