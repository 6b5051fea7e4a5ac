"""A fake Dialpad API v2 (call centers and operators, webhooks, call subscriptions) that records requests and
injects faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "fake-dialpad-key"
# The spec's enum for CreateCallEventSubscription.call_states (the part CallTrax may use).
CALL_STATES = {
    "all",
    "calling",
    "ringing",
    "connected",
    "hangup",
    "missed",
    "voicemail",
    "voicemail_uploaded",
    "dispositions",
    "preanswer",
    "queued",
    "hold",
    "recording",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "Step N" of provisioning, as the issue numbers them after the reservation.
STEPS = {
    1: ("POST", "/api/v2/callcenters"),
    2: ("POST", "/api/v2/webhooks"),
    3: ("POST", "/api/v2/subscriptions/call"),
}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """Answer `status` (or stall `stall` seconds) to the next `times` requests matching method and path."""

    method: str
    path: str
    status: int | None = None
    times: int = 1
    retry_after: str | None = None
    message: str = "injected failure"
    # Dialpad's `errors[].reason`, e.g. "rate_limit_exceeded" (sent with a 403).
    reason: str | None = None
    stall: float | None = None
    # With a stall: do the work first, then answer late (the answer a timed-out client never reads).
    process_first: bool = False


@dataclass
class FakeDialpad:
    """State of the fake: what exists, what was asked, what will go wrong."""

    call_centers: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # call center id -> the Dialpad user ids of its operators.
    operators: dict[str, set[str]] = field(default_factory=dict)
    # The timezone call centers get (their office's); None leaves it out of the answer.
    office_timezone: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(5_100_000_000_000_001))
    # Set once it is served: what DIALPAD_BASE_URL points at.
    base_url: str = ""

    def fail(self, method: str, path: str, status: int, **options: Any) -> None:
        self.faults.append(Fault(method, path, status=status, **options))

    def fail_step(self, step: int, status: int, **options: Any) -> None:
        method, path = STEPS[step]
        self.fail(method, path, status, **options)

    def stall(
        self, method: str, path: str, seconds: float, times: int = 1, *, process_first: bool = False
    ) -> None:
        """Hold matching requests `seconds`: unprocessed if the client gives up first, or (process_first)
        processed and then answered late, so the client never learns it succeeded."""
        self.faults.append(Fault(method, path, stall=seconds, times=times, process_first=process_first))

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def resources(self) -> int:
        return len(self.call_centers) + len(self.webhooks) + len(self.subscriptions)

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and path.startswith(fault.path):
                fault.times -= 1
                return fault
        return None

    def new_id(self) -> str:
        return str(next(self.ids))

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            path = request.url.path
            self.requests.append(Recorded(request.method, path, dict(request.headers), body))
            fault = self._fault_for(request.method, path)
            if fault is not None and fault.stall is not None:
                answer = self._answer(request, body) if fault.process_first else None
                for _ in range(int(fault.stall / 0.02)):
                    if await request.is_disconnected():
                        return Response(status_code=499)
                    await asyncio.sleep(0.02)
                if answer is not None:
                    return answer
            elif fault is not None and fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return _error(fault.status, fault.message, headers, reason=fault.reason)
            return self._answer(request, body)

        return Starlette(
            routes=[Route("/api/v2/{rest:path}", handle, methods=["GET", "POST", "DELETE", "PATCH"])]
        )

    def _answer(self, request: Request, body: Any) -> Response:
        path = request.url.path
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid API key")
        query = request.query_params
        if request.method == "GET":
            if path == "/api/v2/callcenters":
                found = [
                    cc
                    for cc in self.call_centers.values()
                    if query.get("name_search", "").lower() in cc["name"].lower()
                    and query.get("office_id", cc["office_id"]) == cc["office_id"]
                ]
                return JSONResponse({"items": found})
            if path == "/api/v2/webhooks":
                return JSONResponse({"items": list(self.webhooks.values())})
            if path == "/api/v2/subscriptions/call":
                return JSONResponse(
                    {
                        "items": [
                            sub
                            for sub in self.subscriptions.values()
                            if "target_id" not in query or query["target_id"] == sub.get("target_id")
                        ]
                    }
                )
            if path.startswith("/api/v2/callcenters/") and path.endswith("/operators"):
                center = path.split("/")[4]
                if center not in self.call_centers:
                    return _error(404, "call center not found")
                users = [{"id": user} for user in sorted(self.operators.get(center, set()))]
                return JSONResponse({"users": users, "rooms": []})
        route = (request.method, path)
        if route == ("POST", "/api/v2/callcenters"):
            return self._create_call_center(body)
        if route == ("POST", "/api/v2/webhooks"):
            return self._create_webhook(body)
        if route == ("POST", "/api/v2/subscriptions/call"):
            return self._create_subscription(body)
        if path.startswith("/api/v2/callcenters/") and path.endswith("/operators"):
            return self._operators(request.method, path.split("/")[4], body)
        if request.method == "PATCH":
            return self._update(path, body)
        if request.method == "DELETE":
            for prefix, store in (
                ("/api/v2/callcenters/", self.call_centers),
                ("/api/v2/webhooks/", self.webhooks),
                ("/api/v2/subscriptions/call/", self.subscriptions),
            ):
                if path.startswith(prefix):
                    deleted = store.pop(path.removeprefix(prefix), None)
                    return JSONResponse(deleted) if deleted else _error(404, "not found")
        return _error(404, "no such endpoint")

    def _operators(self, method: str, center: str, body: Any) -> Response:
        if center not in self.call_centers:
            return _error(404, "call center not found")
        user_id = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(user_id, int):
            return _error(400, "user_id is required (int64)")
        operators = self.operators.setdefault(center, set())
        if method == "POST":
            operators.add(str(user_id))
            return JSONResponse(
                {"id": str(user_id), "call_center_id": center, "role": body.get("role", "operator")}
            )
        if method == "DELETE":
            if str(user_id) not in operators:
                return _error(404, "the user is not an operator of this call center")
            operators.discard(str(user_id))
            return JSONResponse({"id": str(user_id)})
        return _error(405, "method not allowed")

    def _update(self, path: str, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        for prefix, store in (
            ("/api/v2/callcenters/", self.call_centers),
            ("/api/v2/webhooks/", self.webhooks),
            ("/api/v2/subscriptions/call/", self.subscriptions),
        ):
            if path.startswith(prefix):
                item = store.get(path.removeprefix(prefix))
                if item is None:
                    return _error(404, "not found")
                if prefix == "/api/v2/webhooks/":
                    item["hook_url"] = body.get("hook_url", item["hook_url"])
                    if body.get("secret"):
                        item["signature"] = {"type": "jwt", "algo": "HS256", "secret": body["secret"]}
                elif prefix == "/api/v2/subscriptions/call/":
                    if "endpoint_id" in body:
                        if str(body["endpoint_id"]) not in self.webhooks:
                            return _error(400, "endpoint_id must be an existing webhook id")
                        item["webhook"] = self.webhooks[str(body["endpoint_id"])]
                    for key in ("call_states", "enabled"):
                        if key in body:
                            item[key] = body[key]
                else:
                    item.update(
                        {
                            key: value
                            for key, value in body.items()
                            if key.endswith("_hours") or key == "hours_on"
                        }
                    )
                return JSONResponse(item)
        return _error(404, "no such endpoint")

    def _create_call_center(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        name, office_id = body.get("name"), body.get("office_id")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _error(400, "name is required (max 100 characters)")
        if not isinstance(office_id, int):
            return _error(400, "office_id is required (int64)")
        call_center: dict[str, Any] = {
            "id": self.new_id(),
            "name": name,
            "office_id": str(office_id),
            "state": "active",
            "hours_on": bool(body.get("hours_on", False)),
            **{f"{day}_hours": body.get(f"{day}_hours", []) for day in WEEKDAYS},
        }
        if self.office_timezone is not None:
            call_center["timezone"] = self.office_timezone
        self.call_centers[call_center["id"]] = call_center
        return JSONResponse(call_center)

    def _create_webhook(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("hook_url"), str):
            return _error(400, "hook_url is required")
        webhook: dict[str, Any] = {"id": self.new_id(), "hook_url": body["hook_url"]}
        if body.get("secret"):
            webhook["signature"] = {"type": "jwt", "algo": "HS256", "secret": body["secret"]}
        self.webhooks[webhook["id"]] = webhook
        return JSONResponse(webhook)

    def _create_subscription(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        endpoint_id, target_id = body.get("endpoint_id"), body.get("target_id")
        if not isinstance(endpoint_id, int) or str(endpoint_id) not in self.webhooks:
            return _error(400, "endpoint_id must be an existing webhook id (int64)")
        # Without a target the subscription covers every call of the company.
        scoped = "target_type" in body or "target_id" in body
        if scoped and (body.get("target_type") != "callcenter" or not isinstance(target_id, int)):
            return _error(400, "target_type callcenter needs an int64 target_id")
        if scoped and str(target_id) not in self.call_centers:
            return _error(404, "target call center not found")
        states = body.get("call_states")
        if not isinstance(states, list) or not states or not set(states) <= CALL_STATES:
            return _error(400, "call_states must be a non-empty list of call states")
        subscription: dict[str, Any] = {
            "id": self.new_id(),
            "call_states": states,
            "enabled": bool(body.get("enabled", True)),
            "webhook": self.webhooks[str(endpoint_id)],
        }
        if scoped:
            subscription.update(target_type="callcenter", target_id=str(target_id))
        self.subscriptions[subscription["id"]] = subscription
        return JSONResponse(subscription)


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, *, reason: str | None = None
) -> JSONResponse:
    # Dialpad's error body is undocumented; this is the Google-style shape its API answers with.
    detail: dict[str, Any] = {"message": message, "domain": "global"}
    if reason is not None:
        detail["reason"] = reason
    return JSONResponse({"error": {"code": status, "errors": [detail]}}, status_code=status, headers=headers)
