"""`GET /export/leads.csv` and `GET /export/calls.csv`: bearer auth, the GraphQL lists' filters as
query parameters, streamed so memory stays flat however many rows match."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from domain.calls import CallDirection, CallStatus
from domain.errors import DomainError
from domain.leads import LeadStatus, PipelineStage
from domain.roles import Principal
from exports.csv_rows import CALLS, LEADS, Table
from exports.params import Params
from persistence.call_queries import CallFilter
from persistence.lead_queries import LeadFilter
from services.authenticate import authenticate
from services.export_calls import export_calls
from services.export_leads import export_leads

LEAD_PARAMS = {"tenantId", "status", "stage", "source", "createdFrom", "createdTo", "search"}
CALL_PARAMS = {"tenantId", "direction", "status", "disposition", "startedFrom", "startedTo", "leadId"}


def error_response(error: DomainError) -> JSONResponse:
    """`{"error": {"code", "message", "fields"}}` with the error's HTTP status; field names as the
    query parameters spell them (the list services name them as the GraphQL filter does)."""
    fields = {name.removeprefix("filter."): problem for name, problem in error.fields.items()}
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message, "fields": fields}},
        status_code=error.http_status,
        headers=headers,
    )


async def _caller(request: Request) -> Principal:
    return await authenticate(request.state.deps, authorization=request.headers.get("authorization"))


def _csv(name: str, table: Table, batches: AsyncIterator[Sequence[Sequence[Any]]]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield table.head()
        async for rows in batches:
            yield table.lines(rows)

    headers: Mapping[str, str] = {
        "Content-Disposition": f'attachment; filename="{name}"',
        # Personal data: no shared cache keeps a copy.
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=dict(headers))


async def leads_csv(request: Request) -> Response:
    try:
        actor = await _caller(request)
        params = Params(request.query_params, known=LEAD_PARAMS)
        where = LeadFilter(
            statuses=params.enums("status", LeadStatus),
            sources=params.texts("source"),
            created_from=params.time("createdFrom"),
            created_to=params.time("createdTo"),
            search=params.text("search"),
        )
        stages = params.enums("stage", PipelineStage)
        tenant_id = params.uuid("tenantId")
        params.check()
        batches = await export_leads(
            request.state.deps, actor=actor, tenant_id=tenant_id, where=where, stages=stages
        )
    except DomainError as error:
        return error_response(error)
    return _csv("leads.csv", LEADS, batches)


async def calls_csv(request: Request) -> Response:
    try:
        actor = await _caller(request)
        params = Params(request.query_params, known=CALL_PARAMS)
        where = CallFilter(
            directions=params.enums("direction", CallDirection),
            statuses=params.enums("status", CallStatus),
            dispositions=tuple(value.strip().lower() for value in params.texts("disposition")),
            started_from=params.time("startedFrom"),
            started_to=params.time("startedTo"),
            lead_id=params.uuid("leadId"),
        )
        tenant_id = params.uuid("tenantId")
        params.check()
        batches = await export_calls(request.state.deps, actor=actor, tenant_id=tenant_id, where=where)
    except DomainError as error:
        return error_response(error)
    return _csv("calls.csv", CALLS, batches)


routes: list[BaseRoute] = [
    Route("/export/leads.csv", leads_csv, methods=["GET"]),
    Route("/export/calls.csv", calls_csv, methods=["GET"]),
]
