"""The follow-up board: which `created_at` window each column covers at a given instant."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.leads import PipelineStage, StageBounds

STAGE_ORDER: tuple[PipelineStage, ...] = (
    PipelineStage.FOLLOW_UP_1,
    PipelineStage.FOLLOW_UP_2,
    PipelineStage.FOLLOW_UP_3,
    PipelineStage.FOLLOW_UP_4,
)


@dataclass(frozen=True)
class StageWindow:
    """Open leads with `created_after < created_at <= created_until` (None: unbounded) are in it.

    Age = now - created_at, so "age < bound" is "created_at > now - bound"; this is `stage_for`
    turned into ranges an index can scan."""

    stage: PipelineStage
    created_after: datetime | None
    created_until: datetime | None


def stage_windows(now: datetime, bounds: StageBounds) -> tuple[StageWindow, ...]:
    """The four columns' windows, newest column first; together they cover every instant once."""
    edges = [now - timedelta(seconds=seconds) for seconds in bounds.as_list()]
    return (
        StageWindow(PipelineStage.FOLLOW_UP_1, edges[0], None),
        StageWindow(PipelineStage.FOLLOW_UP_2, edges[1], edges[0]),
        StageWindow(PipelineStage.FOLLOW_UP_3, edges[2], edges[1]),
        StageWindow(PipelineStage.FOLLOW_UP_4, None, edges[2]),
    )


def bounds_problem(bounds: list[int]) -> str | None:
    """Why a list of stage bounds (seconds) is unusable, or None."""
    if len(bounds) != 3:
        return "three bounds in seconds: the ends of Follow Up 1, 2 and 3"
    if bounds[0] <= 0 or any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
        return "bounds must be positive and increasing"
    return None
