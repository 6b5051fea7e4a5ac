"""A running app for notification tests, and a webhook receiver that checks signatures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_network
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.notifications import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.conftest import graphql

# The test receivers listen on loopback, which notifications refuse by default: tests that deliver to
# them open exactly 127.0.0.1, the way an operator would (CALLTRAX_NOTIFY_ALLOWED_NETWORKS).
LOOPBACK_ALLOWED: dict[str, Any] = {"notify_allowed_networks": (ip_network("127.0.0.1/32"),)}

CREATE_TARGET = """
mutation ($tenantId: ID!, $input: NotificationTargetInput!) {
  createNotificationTarget(tenantId: $tenantId, input: $input) {
    secret
    target { id tenantId url emails events createdAt }
  }
}
"""

DELIVERIES = """
query ($tenantId: ID!, $first: Int, $after: String) {
  notificationDeliveries(tenantId: $tenantId, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id targetId channel event eventType eventSeq leadId status attemptCount lastStatusCode lastError
      deliveredAt attempts { attempt startedAt durationMs ok statusCode error }
    } }
  }
}
"""


@dataclass
class Received:
    at: datetime
    body: bytes
    headers: dict[str, str]
    answered: int
    signature_valid: bool

    @property
    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A customer's endpoint: answers 500 to the first `fail_first` requests, then 200."""

    fail_first: int = 0
    always_fail: bool = False
    secret: str | None = None
    requests: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            failing = self.always_fail or len(self.requests) < self.fail_first
            valid = self.secret is not None and verify_signature(
                self.secret,
                timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                body=body,
                signature=request.headers.get(SIGNATURE_HEADER, ""),
                now=datetime.now(UTC),
            )
            status = 500 if failing else 200
            self.requests.append(Received(datetime.now(UTC), body, dict(request.headers), status, valid))
            return JSONResponse({"ok": not failing}, status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """The app with its lifespan (and so its background loops) running; an in-process client."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, manager._state


async def create_target(http: httpx.AsyncClient, user: Any, tenant_id: Any, **target: Any) -> dict[str, Any]:
    body = await graphql(http, CREATE_TARGET, {"tenantId": str(tenant_id), "input": target}, user=user)
    assert "errors" not in body, body
    created: dict[str, Any] = body["data"]["createNotificationTarget"]
    return created
