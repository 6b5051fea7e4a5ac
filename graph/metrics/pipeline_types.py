"""GraphQL types of the follow-up board: four columns, each with a count and a page of its leads."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from graph.context import Info
from graph.enums import PipelineStage
from graph.leads.types import Lead
from graph.metrics.loaders import pipeline_page_loader
from graph.relay import Connection, connection, decode_cursor, page_size
from persistence.keyset import PageKey
from persistence.rows import LeadRow
from services import pipeline as board
from services.pipeline import ColumnPageKey


def _key(row: LeadRow) -> PageKey:
    return PageKey(sort=row.created_at, id=row.id)


@strawberry.type(description="A column of the board: open leads (NEW, CONTACTED) of an age range.")
class PipelineColumn:
    stage: PipelineStage
    title: str
    count: int = strawberry.field(description="Open leads in this column now.")
    min_age_seconds: int
    max_age_seconds: int | None = strawberry.field(description="Exclusive; null for the last column.")
    tenant_id: strawberry.Private[UUID]
    now: strawberry.Private[datetime]

    @strawberry.field(description="The column's leads, newest first (the `leads` list with this stage).")
    async def leads(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Lead]:
        cursor = decode_cursor(after)
        key = ColumnPageKey(self.tenant_id, self.stage, self.now, page_size(first), cursor)
        page = await pipeline_page_loader(info.context).load(key)
        return connection(
            page.rows, has_next=page.has_next, after=cursor, key=_key, node=Lead.from_row, count=page.count
        )


@strawberry.type(description="A tenant's follow-up board; booked and closed leads have left it.")
class Pipeline:
    tenant_id: strawberry.ID
    columns: list[PipelineColumn]

    @classmethod
    def of(cls, found: board.PipelineBoard) -> Pipeline:
        return cls(
            tenant_id=strawberry.ID(str(found.tenant_id)),
            columns=[
                PipelineColumn(
                    stage=column.stage,
                    title=column.title,
                    count=column.count,
                    min_age_seconds=column.min_age_seconds,
                    max_age_seconds=column.max_age_seconds,
                    tenant_id=found.tenant_id,
                    now=found.now,
                )
                for column in found.columns
            ],
        )
