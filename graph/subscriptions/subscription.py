"""The Subscription root: lead, call and pipeline changes of the tenants the caller may see."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Any, TypeVar, cast
from uuid import UUID

import strawberry

from domain.errors import BadInput, Unavailable
from domain.events import EventType, PublishedEvent
from domain.pipeline_moves import board_move, move_columns
from graph.calls.types import Call
from graph.context import Info
from graph.leads.types import Lead
from graph.subscriptions.types import (
    CallChange,
    CallChangeKind,
    LeadChange,
    LeadChangeKind,
    PipelineChange,
    PipelineChangeKind,
    PipelineColumnCount,
)
from services.pipeline_counts import pipeline_counts
from services.watch_events import watch_events

_T = TypeVar("_T")
_K = TypeVar("_K")

LEAD_KINDS: dict[EventType, LeadChangeKind] = {
    EventType.LEAD_CREATED: LeadChangeKind.CREATED,
    EventType.LEAD_UPDATED: LeadChangeKind.UPDATED,
    EventType.LEAD_STAGE_CHANGED: LeadChangeKind.STAGE_CHANGED,
    EventType.SLA_BREACHED: LeadChangeKind.UPDATED,
}

# Every subscriber of a tenant gets the same event objects (decoded once per process), so the
# GraphQL objects built from them are shared too: one build per event, not one per subscriber.
_BUILT: OrderedDict[tuple[UUID, int, str], Any] = OrderedDict()
_BUILT_KEEP = 512


def _built(build: Callable[[PublishedEvent, _K], _T], event: PublishedEvent, kind: _K) -> _T:
    key = (event.tenant_id, event.seq, build.__name__)
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT[key] = build(event, kind)
        if len(_BUILT) > _BUILT_KEEP:
            _BUILT.popitem(last=False)
    return cast(_T, found)


TENANT_ID = "The tenant to follow; absent = every tenant you may see."
AFTER = "Replay the tenant's events after this cursor first (needs tenantId), then continue live."


def _tenant_uuid(tenant_id: strawberry.ID | None) -> UUID | None:
    if tenant_id is None:
        return None
    try:
        return UUID(str(tenant_id))
    except ValueError as error:
        raise BadInput("tenantId is not a tenant id", fields={"tenantId": "not a uuid"}) from error


async def _events(
    info: Info, tenant_id: strawberry.ID | None, after: int | None
) -> AsyncGenerator[PublishedEvent, None]:
    """The caller's events; permission errors are raised before any event, and a revocation ends the
    stream with FORBIDDEN."""
    context = info.context
    context.require_principal()
    if context.subscriber is None:
        raise Unavailable("subscriptions are not available on this server")
    if context.access is None:
        # Only a websocket keeps its caller current (graph/app.py): nothing else may stream.
        raise Unavailable("subscriptions are served over websockets only")
    stream = await watch_events(
        subscriber=context.subscriber, access=context.access, tenant_id=_tenant_uuid(tenant_id), after=after
    )
    try:
        async for event in stream:
            # The context lives as long as the socket: loaders must not cache across events.
            context.loaders.clear()
            yield event
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Leads created or changed, in cursor order per tenant.")
    async def lead_changed(
        self,
        info: Info,
        tenant_id: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT_ID)] = None,
        after: Annotated[int | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[LeadChange, None]:
        async for event in _events(info, tenant_id, after):
            kind = LEAD_KINDS.get(event.type)
            if kind is not None and isinstance(event.payload.get("lead"), dict):
                yield _built(_lead_change, event, kind)

    @strawberry.subscription(description="Calls ringing, connecting, ending or dispositioned.")
    async def call_changed(
        self,
        info: Info,
        tenant_id: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT_ID)] = None,
        after: Annotated[int | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[CallChange, None]:
        async for event in _events(info, tenant_id, after):
            if event.type is not EventType.CALL_UPDATED or not isinstance(event.payload.get("call"), dict):
                continue
            try:
                kind = CallChangeKind(event.payload.get("kind"))
            except ValueError:
                continue
            yield _built(_call_change, event, kind)

    @strawberry.subscription(description="A lead entered, moved within or left the board, with the counts.")
    async def pipeline_changed(
        self,
        info: Info,
        tenant_id: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT_ID)] = None,
    ) -> AsyncGenerator[PipelineChange, None]:
        async for event in _events(info, tenant_id, None):
            move = board_move(event)
            if move is None:
                continue
            # Counted now, on a connection held for this one read.
            counts = await pipeline_counts(info.context.deps, tenant_id=event.tenant_id)
            from_stage, to_stage = move_columns(event)
            yield PipelineChange(
                kind=PipelineChangeKind(move.value),
                cursor=event.seq,
                tenant_id=strawberry.ID(str(event.tenant_id)),
                lead_id=strawberry.ID(str(event.payload["lead"]["id"])),
                from_stage=from_stage,
                to_stage=to_stage,
                columns=[PipelineColumnCount.build(stage, count) for stage, count in counts.items()],
            )


def _lead_change(event: PublishedEvent, kind: LeadChangeKind) -> LeadChange:
    return LeadChange(
        kind=kind,
        cursor=event.seq,
        tenant_id=strawberry.ID(str(event.tenant_id)),
        lead=Lead.from_snapshot(event.payload["lead"], event.payload.get("contact") or None),
    )


def _call_change(event: PublishedEvent, kind: CallChangeKind) -> CallChange:
    return CallChange(
        kind=kind,
        cursor=event.seq,
        tenant_id=strawberry.ID(str(event.tenant_id)),
        call=Call.from_snapshot(event.payload["call"]),
    )
