"""The real DialpadGateway: Dialpad's REST API over httpx, with retries and a client-side rate limit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from domain.errors import DialpadError
from domain.provisioning import ProvisioningStep, call_center_hours

log = logging.getLogger("calltrax.dialpad")

# Dialpad allows 20 requests/s per company; staying a little under leaves room for clock skew.
DEFAULT_REQUESTS_PER_SECOND = 18.0
RETRIABLE_STATUSES = frozenset({408, 429})
# A Retry-After longer than this is not waited for: an admin is waiting on the mutation.
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_LIST_PAGES = 20

# Looks for the resource an attempt whose answer was lost may have created.
Finder = Callable[[], Awaitable[dict[str, Any] | None]]


class RateLimiter:
    """Spaces requests at least 1/rate apart, so no one-second window holds more than `rate` of them."""

    def __init__(self, rate: float, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._sleep = sleep

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            await self._sleep(start - now)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_details(body: Any) -> list[dict[str, Any]]:
    """Dialpad's `{"error": {"errors": [{"message", "reason", ...}]}}` entries (Google-style), if any."""
    error = body.get("error") if isinstance(body, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    return [item for item in errors if isinstance(item, dict)] if isinstance(errors, list) else []


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def dialpad_message(response: httpx.Response) -> str:
    """Dialpad's error text, never raw JSON: `error.errors[].message` joined, else `error.message` or
    another message field, else the body's text."""
    body = _json(response)
    messages = [str(item["message"]) for item in _error_details(body) if isinstance(item.get("message"), str)]
    if messages:
        return "; ".join(dict.fromkeys(messages))[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    text = response.text.strip()
    if isinstance(body, dict | list):
        # JSON with no message in it: say so rather than show it.
        return response.reason_phrase or f"HTTP {response.status_code}"
    return text[:500] if text else response.reason_phrase or f"HTTP {response.status_code}"


def is_rate_limited(response: httpx.Response) -> bool:
    """Dialpad answers some rate limits 403 with reason `rate_limit_exceeded`: retried like a 429."""
    if response.status_code != 403:
        return False
    reasons = {str(item.get("reason", "")).lower() for item in _error_details(_json(response))}
    return "rate_limit_exceeded" in reasons or "rate_limit_exceeded" in response.text[:2000].lower()


def _int_id(value: str) -> int | str:
    # The spec types ids as int64 in request bodies; REST answers carry them as strings.
    return int(value) if value.isdigit() else value


class DialpadClient:
    """DialpadGateway over httpx: `Authorization: Bearer <key>`, 408/429/5xx/timeouts and 403
    `rate_limit_exceeded` retried with
    capped exponential backoff and jitter (Retry-After honoured), other 4xx raised at once."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        timeout: float = 10.0,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": "calltrax",
        }
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._limiter = RateLimiter(requests_per_second, sleep=sleep)
        self._sleep = sleep

    @property
    def simulated(self) -> bool:
        return False

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter: half fixed, half random, so retries spread out."""
        ceiling: float = min(self._max_delay, self._base_delay * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        step: str,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        adopt: Finder | None = None,
    ) -> Any:
        """Send with retries; the answer's JSON (None when it has none). `adopt` is asked, before a create
        is sent again after an answer that may hide a success, for what the lost attempt made."""
        url = f"{self._base_url}{path}"
        maybe_done = False
        for attempt in range(self._max_attempts):
            last = attempt == self._max_attempts - 1
            if maybe_done and adopt is not None:
                found = await adopt()
                if found is not None:
                    log.info("adopted a resource a lost attempt created", extra={"path": path})
                    return found
            await self._limiter.acquire()
            try:
                response = await self._http.request(
                    method, url, json=json, params=params, headers=self._headers, timeout=self._timeout
                )
            except httpx.TransportError as error:
                # Timeouts and dropped connections: the request may not have reached Dialpad.
                log.warning(
                    "dialpad request failed",
                    extra={"method": method, "path": path, "attempt": attempt + 1, "error": repr(error)},
                )
                if last:
                    kind = (
                        "did not answer in time"
                        if isinstance(error, httpx.TimeoutException)
                        else "unreachable"
                    )
                    raise DialpadError(
                        f"Dialpad {kind} ({method} {path}, {self._max_attempts} attempts)", step=step
                    ) from error
                # Only a connect failure proves the request never reached Dialpad.
                maybe_done = maybe_done or not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                await self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 400:
                try:
                    return response.json()
                except ValueError:
                    return None
            message = dialpad_message(response)
            log.warning(
                "dialpad answered an error",
                extra={"method": method, "path": path, "status": status, "attempt": attempt + 1},
            )
            retriable = status in RETRIABLE_STATUSES or status >= 500 or is_rate_limited(response)
            if not retriable or last:
                raise DialpadError(f"Dialpad answered {status}: {message}", status=status, step=step)
            # A 5xx may come after the work was done; 408, 429 and a rate-limit 403 say it was not.
            maybe_done = maybe_done or status >= 500
            delay = retry_after_seconds(response.headers.get("retry-after"))
            if delay is None:
                delay = self._backoff(attempt)
            elif delay > MAX_RETRY_AFTER_SECONDS:
                raise DialpadError(
                    f"Dialpad answered {status}: {message} (asked to retry after {delay:.0f} s)",
                    status=status,
                    step=step,
                )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _create(
        self, path: str, body: dict[str, Any], *, step: str, adopt: Finder | None = None
    ) -> dict[str, Any]:
        answer = await self._request("POST", path, json=body, step=step, adopt=adopt)
        if not isinstance(answer, dict) or answer.get("id") in (None, ""):
            raise DialpadError(f"Dialpad answered POST {path} without an id", step=step)
        # Ids arrive as strings here and as numbers in events: text everywhere.
        return {**answer, "id": str(answer["id"])}

    async def _list(
        self, path: str, *, step: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a Dialpad list, following `cursor` (bounded: this is a recovery path)."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        for _ in range(MAX_LIST_PAGES):
            page = await self._request("GET", path, params=query, step=step)
            if not isinstance(page, dict):
                break
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            if not page.get("cursor"):
                break
            query["cursor"] = page["cursor"]
        return items

    async def _delete(self, path: str, *, step: str, json: dict[str, Any] | None = None) -> None:
        try:
            await self._request("DELETE", path, step=step, json=json)
        except DialpadError as error:
            # Already gone is what a delete wants.
            if error.status != 404:
                raise

    async def create_call_center(
        self, *, name: str, office_id: str | None, hours: dict[str, list[str]]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if office_id is not None:
            body["office_id"] = _int_id(office_id)
        body["hours_on"] = True
        body.update(call_center_hours(hours))
        step = ProvisioningStep.CALL_CENTER
        # Names need not be unique in Dialpad: remember which namesakes existed before, so a lost
        # attempt's call center can be told apart from somebody else's (and never deleted by mistake).
        search = {"name_search": name, **({"office_id": body["office_id"]} if office_id else {})}

        def namesakes(items: list[dict[str, Any]]) -> set[str]:
            return {str(item.get("id")) for item in items if item.get("name") == name}

        try:
            existing: set[str] | None = namesakes(await self._list("/callcenters", step=step, params=search))
        except DialpadError as error:
            # Without the list, a lost attempt cannot be recognised; creating still works.
            log.warning("could not list call centers", extra={"error": error.message})
            existing = None

        async def adopt() -> dict[str, Any] | None:
            if existing is None:
                return None
            items = await self._list("/callcenters", step=step, params=search)
            new = [item for item in items if item.get("name") == name and str(item.get("id")) not in existing]
            return new[0] if len(new) == 1 else None

        return await self._create("/callcenters", body, step=step, adopt=adopt)

    async def delete_call_center(self, call_center_id: str) -> None:
        await self._delete(f"/callcenters/{call_center_id}", step=ProvisioningStep.CALL_CENTER)

    async def create_webhook(self, *, hook_url: str, secret: str) -> dict[str, Any]:
        step = ProvisioningStep.WEBHOOK

        async def adopt() -> dict[str, Any] | None:
            # The hook URL names the tenant, so a webhook with it is ours.
            found = [
                item for item in await self._list("/webhooks", step=step) if item.get("hook_url") == hook_url
            ]
            return found[-1] if found else None

        return await self._create(
            "/webhooks", {"hook_url": hook_url, "secret": secret}, step=step, adopt=adopt
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._delete(f"/webhooks/{webhook_id}", step=ProvisioningStep.WEBHOOK)

    async def create_call_subscription(
        self, *, webhook_id: str, call_center_id: str | None, call_states: list[str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "endpoint_id": _int_id(webhook_id),
            "call_states": list(call_states),
            "enabled": True,
        }
        if call_center_id is not None:
            body["target_type"] = "callcenter"
            body["target_id"] = _int_id(call_center_id)
        step = ProvisioningStep.SUBSCRIPTION

        async def adopt() -> dict[str, Any] | None:
            # A subscription to our webhook with the same target (or none) is the lost attempt's.
            params = {"target_type": "callcenter", "target_id": body["target_id"]} if call_center_id else {}
            items = await self._list("/subscriptions/call", step=step, params=params)
            found = [
                item
                for item in items
                if str((item.get("webhook") or {}).get("id")) == webhook_id
                and _target(item) == call_center_id
            ]
            return found[-1] if found else None

        return await self._create("/subscriptions/call", body, step=step, adopt=adopt)

    async def delete_call_subscription(self, subscription_id: str) -> None:
        await self._delete(f"/subscriptions/call/{subscription_id}", step=ProvisioningStep.SUBSCRIPTION)

    async def list_webhooks(self) -> list[dict[str, Any]]:
        return await self._list("/webhooks", step=ProvisioningStep.WEBHOOK)

    async def update_webhook(self, webhook_id: str, *, hook_url: str, secret: str) -> dict[str, Any]:
        answer = await self._request(
            "PATCH",
            f"/webhooks/{webhook_id}",
            json={"hook_url": hook_url, "secret": secret},
            step=ProvisioningStep.WEBHOOK,
        )
        return answer if isinstance(answer, dict) else {"id": webhook_id}

    async def list_call_subscriptions(self) -> list[dict[str, Any]]:
        return await self._list("/subscriptions/call", step=ProvisioningStep.SUBSCRIPTION)

    async def update_call_subscription(
        self, subscription_id: str, *, webhook_id: str, call_states: list[str], enabled: bool
    ) -> dict[str, Any]:
        answer = await self._request(
            "PATCH",
            f"/subscriptions/call/{subscription_id}",
            json={"endpoint_id": _int_id(webhook_id), "call_states": list(call_states), "enabled": enabled},
            step=ProvisioningStep.SUBSCRIPTION,
        )
        return answer if isinstance(answer, dict) else {"id": subscription_id}

    async def add_operator(self, call_center_id: str, user_id: str) -> None:
        try:
            await self._request(
                "POST",
                f"/callcenters/{call_center_id}/operators",
                json={"user_id": _int_id(user_id)},
                step=ProvisioningStep.OPERATOR,
            )
        except DialpadError as error:
            # Already an operator: what adding wants. (Dialpad documents 409 for "already exists".)
            if error.status != 409:
                raise

    async def remove_operator(self, call_center_id: str, user_id: str) -> None:
        await self._delete(
            f"/callcenters/{call_center_id}/operators",
            step=ProvisioningStep.OPERATOR,
            json={"user_id": _int_id(user_id)},
        )

    async def update_call_center_hours(self, call_center_id: str, hours: dict[str, list[str]]) -> None:
        await self._request(
            "PATCH",
            f"/callcenters/{call_center_id}",
            json={"hours_on": True, **call_center_hours(hours)},
            step=ProvisioningStep.CALL_CENTER,
        )


def _target(subscription: dict[str, Any]) -> str | None:
    """The call center a subscription is scoped to; None for a company-wide one."""
    target = subscription.get("target_id")
    return str(target) if target not in (None, "") else None
