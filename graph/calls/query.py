"""Queries about calls."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.errors import NotFound
from domain.roles import can_see_tenant
from graph.calls.types import Call
from graph.context import Info
from graph.enums import CallDirection, CallStatus
from graph.ids import parse_optional_uuid, parse_uuid
from graph.loaders import loaders
from graph.relay import Connection, connection, decode_cursor, page_size
from persistence.call_queries import CallFilter
from persistence.keyset import PageKey
from persistence.rows import CallRow
from services.find_calls import find_calls


@strawberry.input(name="CallFilter")
class CallFilterInput:
    direction: list[CallDirection] | None = None
    status: list[CallStatus] | None = None
    disposition: list[str] | None = strawberry.field(
        default=None, description="Normalised dispositions, exact."
    )
    started_from: datetime | None = strawberry.field(default=None, description="Inclusive.")
    started_to: datetime | None = strawberry.field(default=None, description="Exclusive.")
    lead_id: strawberry.ID | None = None
    agent_id: str | None = strawberry.field(
        default=None, description="The customer call's agent (Dialpad user id), as byAgent lists them."
    )
    legs: bool = strawberry.field(
        default=False,
        description="False: customer calls, what metrics count. True: every leg of every customer call.",
    )


def call_filter(where: CallFilterInput) -> CallFilter:
    """The list filter an input asks for; BAD_USER_INPUT for a malformed leadId."""
    return CallFilter(
        directions=tuple(where.direction or ()),
        statuses=tuple(where.status or ()),
        dispositions=tuple(d.strip().lower() for d in where.disposition or ()),
        started_from=where.started_from,
        started_to=where.started_to,
        lead_id=parse_optional_uuid(where.lead_id, field="filter.leadId"),
        agent_id=where.agent_id,
        legs=where.legs,
    )


def _key(row: CallRow) -> PageKey:
    return PageKey(sort=row.started_at, id=row.id)


@strawberry.type
class CallsQuery:
    @strawberry.field(
        description="Calls newest first by start; without tenantId, of every tenant you may see."
    )
    async def calls(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        filter: CallFilterInput | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Call]:
        actor = info.context.require_principal()
        where = filter or CallFilterInput()
        cursor = decode_cursor(after)
        page = await find_calls(
            info.context.deps,
            actor=actor,
            tenant_id=parse_optional_uuid(tenant_id, field="tenantId"),
            where=call_filter(where),
            first=page_size(first),
            after=cursor,
        )
        return connection(
            page.rows, has_next=page.has_next, after=cursor, key=_key, node=Call.from_row, count=page.count
        )

    @strawberry.field(description="One call; NOT_FOUND also when it belongs to a tenant you may not see.")
    async def call(self, info: Info, id: strawberry.ID) -> Call:
        actor = info.context.require_principal()
        row = await loaders(info).call.load(parse_uuid(id, field="id"))
        if row is None or not can_see_tenant(actor, row.tenant_id):
            raise NotFound("no such call", fields={"id": "unknown"})
        return Call.from_row(row)
