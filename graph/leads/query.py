"""Queries about leads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.errors import NotFound
from domain.roles import can_see_tenant
from graph.context import Info
from graph.enums import LeadStatus, PipelineStage
from graph.ids import parse_optional_uuid, parse_uuid
from graph.leads.types import Lead
from graph.loaders import loaders
from graph.relay import Connection, connection, decode_cursor, page_size
from persistence.keyset import PageKey
from persistence.lead_queries import LeadFilter
from persistence.rows import LeadRow
from services.find_leads import find_leads


@strawberry.input(name="LeadFilter")
class LeadFilterInput:
    status: list[LeadStatus] | None = None
    stage: list[PipelineStage] | None = strawberry.field(
        default=None, description="Pipeline columns (open leads by age, with each tenant's bounds)."
    )
    source: list[str] | None = None
    created_from: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_to: datetime | None = strawberry.field(default=None, description="Exclusive.")
    search: str | None = strawberry.field(
        default=None, description="Part of the contact's name or email (any case), or digits of its phone."
    )
    attempted_by: str | None = strawberry.field(
        default=None,
        description="An agent (Dialpad user id): leads they placed an outbound customer call to, at or after "
        "the lead's creation.",
    )


def lead_filter(where: LeadFilterInput) -> LeadFilter:
    """The list filter an input asks for (its `stage` aside: services.find_leads resolves it)."""
    return LeadFilter(
        statuses=tuple(where.status or ()),
        sources=tuple(where.source or ()),
        created_from=where.created_from,
        created_to=where.created_to,
        search=where.search,
        attempted_by=where.attempted_by,
    )


def _key(row: LeadRow) -> PageKey:
    return PageKey(sort=row.created_at, id=row.id)


@strawberry.type
class LeadsQuery:
    @strawberry.field(description="Leads newest first; without tenantId, of every tenant you may see.")
    async def leads(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        filter: LeadFilterInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Lead]:
        actor = info.context.require_principal()
        where = filter or LeadFilterInput()
        cursor = decode_cursor(after)
        page = await find_leads(
            info.context.deps,
            actor=actor,
            tenant_id=parse_optional_uuid(tenant_id, field="tenantId"),
            where=lead_filter(where),
            stages=tuple(where.stage or ()),
            first=page_size(first),
            after=cursor,
        )
        return connection(
            page.rows, has_next=page.has_next, after=cursor, key=_key, node=Lead.from_row, count=page.count
        )

    @strawberry.field(description="One lead; NOT_FOUND also when it belongs to a tenant you may not see.")
    async def lead(self, info: Info, id: strawberry.ID) -> Lead:
        actor = info.context.require_principal()
        row = await loaders(info).lead.load(parse_uuid(id, field="id"))
        if row is None or not can_see_tenant(actor, row.tenant_id):
            raise NotFound("no such lead", fields={"id": "unknown"})
        return Lead.from_row(row)
