"""Ports: what use cases need from the outside world, implemented in `calltrax/`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from domain.events import PublishedEvent


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock; tests and the demo loader inject fixed or moving clocks instead."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class EventPublisher(Protocol):
    """Told after a commit which tenants have new event rows; sequences and broadcasts them."""

    def committed(self, tenant_ids: Iterable[UUID]) -> None: ...


class EventSubscriber(Protocol):
    """A tenant's live events in `seq` order, resuming after `after` with no gap or duplicate."""

    def subscribe(
        self, tenant_ids: frozenset[UUID] | None, after: dict[UUID, int] | None
    ) -> AsyncIterator[PublishedEvent]: ...


class DialpadGateway(Protocol):
    """Dialpad's REST API as provisioning needs it; ids are strings."""

    @property
    def simulated(self) -> bool: ...

    async def create_call_center(
        self, *, name: str, office_id: str | None, hours: dict[str, list[str]]
    ) -> dict[str, Any]: ...

    async def delete_call_center(self, call_center_id: str) -> None: ...

    async def create_webhook(self, *, hook_url: str, secret: str) -> dict[str, Any]: ...

    async def delete_webhook(self, webhook_id: str) -> None: ...

    async def create_call_subscription(
        self, *, webhook_id: str, call_center_id: str | None, call_states: list[str]
    ) -> dict[str, Any]:
        """A call-event subscription; without a call center it covers every call of the company."""
        ...

    async def delete_call_subscription(self, subscription_id: str) -> None: ...

    async def list_webhooks(self) -> list[dict[str, Any]]: ...

    async def update_webhook(self, webhook_id: str, *, hook_url: str, secret: str) -> dict[str, Any]: ...

    async def list_call_subscriptions(self) -> list[dict[str, Any]]: ...

    async def update_call_subscription(
        self, subscription_id: str, *, webhook_id: str, call_states: list[str], enabled: bool
    ) -> dict[str, Any]: ...

    async def add_operator(self, call_center_id: str, user_id: str) -> None:
        """Make a Dialpad user an operator of the call center (already one: no error)."""
        ...

    async def remove_operator(self, call_center_id: str, user_id: str) -> None:
        """Take a Dialpad user off the call center's operators (not one: no error)."""
        ...

    async def update_call_center_hours(self, call_center_id: str, hours: dict[str, list[str]]) -> None: ...


class TokenVerifier(Protocol):
    """Checks a bearer token and returns its claims; raises `Unauthenticated` with the reason."""

    async def verify(self, token: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SendOutcome:
    """How one notification attempt went: `ok`, the HTTP status (webhooks) or the error."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


class NotificationSender(Protocol):
    """Sends notifications out: signed JSON POSTs and emails. Never raises for a failed send."""

    async def post_json(self, url: str, *, body: bytes, headers: dict[str, str]) -> SendOutcome: ...

    async def send_email(self, recipients: list[str], *, subject: str, text: str) -> SendOutcome: ...
