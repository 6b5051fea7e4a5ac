"""Ports: what use cases need from the outside world, implemented in `calltrax/`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from domain.events import PublishedEvent
from domain.roles import Principal


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


class SubscriptionGuard(Protocol):
    """Whether a subscription may still deliver, asked before every event it yields."""

    def allows(self, tenant_id: UUID) -> bool:
        """True when the caller's access, as known now in memory, lets this tenant's event through."""
        ...

    async def check(self, tenant_id: UUID | None) -> None:
        """The slow path (after `allows` said no, or a wake-up; None: the whole subscription): wait for
        an access change being read, then return if still allowed, else raise why not."""
        ...

    def on_change(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` whenever the caller's access changes; returns the undo."""
        ...


class EventSubscriber(Protocol):
    """A tenant's live events in `seq` order, resuming after `after` with no gap or duplicate; with a
    guard, every event is let through by it and a change of access wakes the subscription to ask it."""

    def subscribe(
        self,
        tenant_ids: frozenset[UUID] | None,
        after: dict[UUID, int] | None,
        guard: SubscriptionGuard | None = None,
    ) -> AsyncIterator[PublishedEvent]: ...


class LiveAccess(Protocol):
    """One caller's access kept current while it is open: re-read from the database when a change is
    announced (any process), periodically, and after the broker reconnects."""

    @property
    def principal(self) -> Principal | None:
        """The caller as last read; None once it is no longer an active user."""
        ...

    @property
    def settled(self) -> bool:
        """False from the moment a change is announced until it has been read."""
        ...

    async def settle(self) -> Principal | None:
        """Wait until an announced change has been read (at once when settled); the caller then."""
        ...

    async def reload(self) -> Principal | None:
        """The caller as of now (new subscriptions are authorised on this): the held principal when
        no change was announced since it was read and it is younger than the re-check period, else
        read from the database."""
        ...

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after every read that changed `principal`; returns the undo."""
        ...

    def close(self) -> None:
        """Stop watching (idempotent)."""
        ...


class AccessWatcher(Protocol):
    """Opens `LiveAccess` handles, one per authenticated websocket."""

    async def principal(self, user_id: str) -> Principal | None:
        """The active user `user_id` (None: missing or inactive) for a socket signing in: from a
        short-lived cache that every announced change clears, else read with other sockets' misses."""
        ...

    def open(self, principal: Principal) -> LiveAccess: ...


class AccessAnnouncer(Protocol):
    """Told after a commit that changed users' access (role, tenant, assignments, active); tells every
    server process, whose open subscriptions re-read those users. Never raises."""

    async def access_changed(self, user_ids: Iterable[str]) -> None: ...


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
