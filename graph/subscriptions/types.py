"""What the subscriptions deliver: a change, its kind, its cursor (the tenant's seq) and the object."""

from __future__ import annotations

from enum import Enum

import strawberry

from domain.leads import STAGE_TITLES
from graph.calls.types import Call
from graph.enums import PipelineStage
from graph.leads.types import Lead


@strawberry.enum
class LeadChangeKind(Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STAGE_CHANGED = "STAGE_CHANGED"


@strawberry.enum
class CallChangeKind(Enum):
    RINGING = "RINGING"
    CONNECTED = "CONNECTED"
    ENDED = "ENDED"
    DISPOSITION = "DISPOSITION"


@strawberry.enum
class PipelineChangeKind(Enum):
    ENTERED = "ENTERED"
    MOVED = "MOVED"
    LEFT = "LEFT"


@strawberry.type(description="A lead was created or changed. Resume with `after: cursor`.")
class LeadChange:
    kind: LeadChangeKind
    cursor: int = strawberry.field(description="The tenant's event seq: dense and increasing per tenant.")
    tenant_id: strawberry.ID
    lead: Lead


@strawberry.type(
    description="A call rang, connected, ended or got a disposition. Resume with `after: cursor`."
)
class CallChange:
    kind: CallChangeKind
    cursor: int = strawberry.field(description="The tenant's event seq: dense and increasing per tenant.")
    tenant_id: strawberry.ID
    call: Call


@strawberry.type
class PipelineColumnCount:
    stage: PipelineStage
    title: str
    count: int

    @classmethod
    def build(cls, stage: PipelineStage, count: int) -> PipelineColumnCount:
        return cls(stage=stage, title=STAGE_TITLES[stage], count=count)


@strawberry.type(description="A lead entered, moved within or left the board; with every column's count.")
class PipelineChange:
    kind: PipelineChangeKind
    cursor: int
    tenant_id: strawberry.ID
    lead_id: strawberry.ID
    from_stage: PipelineStage | None = strawberry.field(
        description="The column the lead left (null when it entered the board)."
    )
    to_stage: PipelineStage | None = strawberry.field(
        description="The column the lead is in now (null when it left the board)."
    )
    columns: list[PipelineColumnCount]
