"""Lead status and the follow-up pipeline stages derived from a lead's age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    BOOKED = "booked"
    CLOSED = "closed"


OPEN_STATUSES: frozenset[LeadStatus] = frozenset({LeadStatus.NEW, LeadStatus.CONTACTED})

# A lead's speed to lead (GraphQL `Lead.speedToLeadSeconds`): seconds from the first of these moments
# (CallTrax received the lead) to the second (its first attempt); none while unattempted. The
# compiled reads' SQL is generated from these names (persistence/graph_reads.py `DERIVED`).
SPEED_TO_LEAD_SPAN = ("created_at", "first_attempt_at")


def speed_to_lead_seconds(lead: object) -> float | None:
    """`SPEED_TO_LEAD_SPAN` of a lead row (or anything with those attributes), in seconds."""
    start, end = (getattr(lead, name) for name in SPEED_TO_LEAD_SPAN)
    if start is None or end is None:
        return None
    return float((end - start).total_seconds())


# Automatic moves only go forward; a person may set any status through updateLeadStatus.
_STATUS_RANK = {LeadStatus.NEW: 0, LeadStatus.CONTACTED: 1, LeadStatus.BOOKED: 2, LeadStatus.CLOSED: 3}


def advance_status(current: LeadStatus, proposed: LeadStatus) -> LeadStatus:
    """The status after an automatic event proposes `proposed`: never moves back on its own."""
    if current is LeadStatus.CLOSED:
        return current
    return proposed if _STATUS_RANK[proposed] > _STATUS_RANK[current] else current


def advancing_to(proposed: LeadStatus) -> tuple[LeadStatus, ...]:
    """The statuses an automatic event proposing `proposed` moves to it (`advance_status` as a set)."""
    return tuple(
        status
        for status in LeadStatus
        if status is not proposed and advance_status(status, proposed) is proposed
    )


class PipelineStage(StrEnum):
    FOLLOW_UP_1 = "follow_up_1"
    FOLLOW_UP_2 = "follow_up_2"
    FOLLOW_UP_3 = "follow_up_3"
    FOLLOW_UP_4 = "follow_up_4"


STAGE_TITLES: dict[PipelineStage, str] = {
    PipelineStage.FOLLOW_UP_1: "Follow Up 1",
    PipelineStage.FOLLOW_UP_2: "Follow Up 2",
    PipelineStage.FOLLOW_UP_3: "Follow Up 3",
    PipelineStage.FOLLOW_UP_4: "Follow Up 4",
}


@dataclass(frozen=True)
class StageBounds:
    """Upper age bounds in seconds of stages 1-3; stage 4 is everything older."""

    follow_up_1: int = 86_400
    follow_up_2: int = 3 * 86_400
    follow_up_3: int = 7 * 86_400

    def as_list(self) -> list[int]:
        return [self.follow_up_1, self.follow_up_2, self.follow_up_3]


def stage_for(
    status: LeadStatus, created_at: datetime, now: datetime, bounds: StageBounds
) -> PipelineStage | None:
    """The board column of a lead, or None when it has left the board (booked or closed)."""
    if status not in OPEN_STATUSES:
        return None
    age = (now - created_at).total_seconds()
    # The first column whose age range reaches past the lead's age (the last has no upper bound).
    return next(
        stage for stage in PipelineStage if (high := stage_age_range(stage, bounds)[1]) is None or age < high
    )


def stage_age_range(stage: PipelineStage, bounds: StageBounds) -> tuple[int, int | None]:
    """The ages in seconds `[low, high)` of open leads in `stage` (high None: no upper bound)."""
    edges = [0, *bounds.as_list(), None]
    index = list(PipelineStage).index(stage)
    return edges[index] or 0, edges[index + 1]


@dataclass(frozen=True)
class StatusChange:
    """A lead's status change with the board columns before and after (None: off the board)."""

    from_status: LeadStatus
    to_status: LeadStatus
    from_stage: PipelineStage | None
    to_stage: PipelineStage | None

    def then(self, later: StatusChange) -> StatusChange:
        """This change followed by `later` in the same transaction, as one change."""
        return StatusChange(self.from_status, later.to_status, self.from_stage, later.to_stage)

    @property
    def stage_changed(self) -> bool:
        return self.from_stage != self.to_stage

    def event_fields(self) -> dict[str, str | None]:
        """The fields a LEAD_UPDATED payload of a status change carries (domain/events.py)."""
        return {
            "from_status": self.from_status.value,
            "from_stage": self.from_stage.value if self.from_stage else None,
            "to_stage": self.to_stage.value if self.to_stage else None,
        }
