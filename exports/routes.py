"""`GET /export/leads.csv` and `GET /export/calls.csv`: bearer auth, the GraphQL lists' filters as
query parameters, streamed so memory stays flat however many rows match."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Send

from domain.calls import CallDirection, CallStatus
from domain.errors import DomainError
from domain.leads import LeadStatus, PipelineStage
from domain.roles import Principal
from exports.csv_rows import CALLS, LEADS, Table, failure_line
from exports.params import Params
from persistence.call_queries import CallFilter
from persistence.lead_queries import LeadFilter
from services.authenticate import authenticate
from services.export_calls import export_calls
from services.export_leads import export_leads

LEAD_PARAMS = {"tenantId", "status", "stage", "source", "createdFrom", "createdTo", "search", "attemptedBy"}
CALL_PARAMS = {
    "tenantId",
    "direction",
    "status",
    "disposition",
    "startedFrom",
    "startedTo",
    "leadId",
    "agentId",
}

log = logging.getLogger(__name__)

# Ends an export that stopped early; no detail of the cause (it is logged with the request id).
STREAM_FAILED_MESSAGE = (
    "the export stopped early because of a server error; the rows above are incomplete, retry"
)


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
    return await authenticate(request.state.api_deps, authorization=request.headers.get("authorization"))


class CsvStream(StreamingResponse):
    """A CSV export streamed from row batches that hold a database connection.

    However the stream ends (done, a failing batch or row, the client leaving, the server
    stopping), the batches are closed in a `finally` shielded from cancellation, so their
    transaction is rolled back and the connection goes back to the pool at once. A stream that
    fails after the 200 was sent ends with a `#ERROR` CSV line and no end-of-body marker, so both
    a CSV reader and an HTTP client (curl, a browser download) see that the file is incomplete."""

    def __init__(
        self, name: str, table: Table, batches: AsyncGenerator[Sequence[Sequence[Any]], None]
    ) -> None:
        self._table = table
        self._batches = batches
        self._body = self._lines()
        super().__init__(
            self._body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                # Personal data: no shared cache keeps a copy.
                "Cache-Control": "no-store",
            },
        )

    async def _lines(self) -> AsyncGenerator[bytes, None]:
        yield self._table.head()
        async for rows in self._batches:
            yield self._table.lines(rows)

    async def stream_response(self, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            try:
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception:
                log.exception("an export stopped early")
                await self._close()
                await send(
                    {
                        "type": "http.response.body",
                        "body": failure_line(STREAM_FAILED_MESSAGE),
                        "more_body": True,
                    }
                )
                # Returning without the last body message: the server closes the connection
                # without the end of the chunked body, which clients report as a failed transfer.
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._close()

    async def _close(self) -> None:
        """Close the batches (rolling back and releasing their connection), even while cancelled."""
        with anyio.CancelScope(shield=True):
            try:
                await self._body.aclose()
                await self._batches.aclose()
            except Exception:
                log.exception("closing an export's rows failed")


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
            attempted_by=params.text("attemptedBy"),
        )
        stages = params.enums("stage", PipelineStage)
        tenant_id = params.uuid("tenantId")
        params.check()
        batches = await export_leads(
            request.state.api_deps, actor=actor, tenant_id=tenant_id, where=where, stages=stages
        )
    except DomainError as error:
        return error_response(error)
    return CsvStream("leads.csv", LEADS, batches)


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
            agent_id=params.text("agentId"),
        )
        tenant_id = params.uuid("tenantId")
        params.check()
        batches = await export_calls(request.state.api_deps, actor=actor, tenant_id=tenant_id, where=where)
    except DomainError as error:
        return error_response(error)
    return CsvStream("calls.csv", CALLS, batches)


routes: list[BaseRoute] = [
    Route("/export/leads.csv", leads_csv, methods=["GET"]),
    Route("/export/calls.csv", calls_csv, methods=["GET"]),
]
