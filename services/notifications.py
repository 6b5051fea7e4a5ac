"""Notification use cases: managing targets, turning events into queued deliveries, sending them."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from domain import cursors
from domain.destinations import check_webhook_url
from domain.emails import is_email
from domain.errors import BadInput, Forbidden, NotFound
from domain.notifications import (
    ALL_KINDS,
    DELIVERY_FAILED,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Channel,
    DeliveryStatus,
    NotificationKind,
    RetryPolicy,
    compose,
    next_attempt_at,
    notification_kind,
    sign,
)
from domain.ports import NotificationSender, SendOutcome
from domain.roles import Principal, can_administer
from persistence import notifications as store
from persistence import tenants as tenant_store
from persistence.notifications import AttemptRow, ClaimedDelivery, DeliveryRow, NewDelivery, TargetRow
from services.deps import Deps

log = logging.getLogger(__name__)

MAX_EMAILS = 20
MAX_PAGE = 100
# A claimed delivery is someone else's to retry only after this (well past a send's own timeout).
LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class CreatedTarget:
    """A new target and its signing secret: the only time the secret is shown."""

    target: TargetRow
    secret: str | None


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[DeliveryRow]
    attempts: dict[int, list[AttemptRow]]
    has_next_page: bool
    total_count: int

    def cursor(self, delivery: DeliveryRow) -> str:
        return encode_cursor(delivery.id)


def encode_cursor(delivery_id: int) -> str:
    return cursors.wrap(f"delivery:{delivery_id}")


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = cursors.unwrap(cursor).partition(":")
        # Delivery ids are bigints: a longer number is no delivery's (and would overflow in SQL).
        if kind == "delivery" and value.isdigit() and int(value) < 2**63:
            return int(value)
    except ValueError:
        pass
    raise BadInput("not a cursor from this list", fields={"after": "invalid cursor"})


def _require_admin(actor: Principal) -> None:
    if not can_administer(actor):
        raise Forbidden("only admins manage notifications")


def _check_emails(emails: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(email.strip().lower() for email in emails if email.strip()))
    bad = [email for email in cleaned if not is_email(email)]
    if bad:
        raise BadInput(f"not email addresses: {', '.join(bad)}", fields={"emails": "not an email address"})
    if len(cleaned) > MAX_EMAILS:
        raise BadInput(f"at most {MAX_EMAILS} addresses", fields={"emails": f"at most {MAX_EMAILS}"})
    return cleaned


async def create_notification_target(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID,
    url: str | None,
    emails: Sequence[str] = (),
    events: Sequence[NotificationKind] | None = None,
) -> CreatedTarget:
    """Add a webhook URL and/or email addresses notified of the chosen events (all when none given)."""
    _require_admin(actor)
    checked_url = check_webhook_url(url, deps.notify_destinations) if url else None
    checked_emails = _check_emails(emails)
    if checked_url is None and not checked_emails:
        raise BadInput("give a url, emails or both", fields={"url": "url or emails required"})
    kinds = frozenset(events) if events else ALL_KINDS
    # 256 random bits; only webhooks are signed.
    secret = secrets.token_urlsafe(32) if checked_url else None
    async with deps.unit_of_work() as tx:
        if await tenant_store.get_tenant(tx.connection, tenant_id) is None:
            raise NotFound("no such tenant", fields={"tenantId": "unknown"})
        target = await store.insert_target(
            tx.connection,
            tenant_id=tenant_id,
            url=checked_url,
            emails=checked_emails,
            events=sorted(kinds),
            secret=secret,
            created_by=actor.user_id,
        )
    return CreatedTarget(target=target, secret=secret)


async def delete_notification_target(deps: Deps, *, actor: Principal, target_id: UUID) -> None:
    """Delete a target: it gets nothing more and its pending deliveries are cancelled."""
    _require_admin(actor)
    async with deps.unit_of_work() as tx:
        if not await store.delete_target(tx.connection, target_id, at=deps.clock.now()):
            raise NotFound("no such notification target", fields={"id": "unknown"})


async def list_notification_targets(deps: Deps, *, actor: Principal, tenant_id: UUID) -> list[TargetRow]:
    """The tenant's notification targets (never their secrets)."""
    _require_admin(actor)
    async with deps.reader() as connection:
        return await store.list_targets(connection, tenant_id)


async def list_notification_deliveries(
    deps: Deps, *, actor: Principal, tenant_id: UUID, first: int = 20, after: str | None = None
) -> DeliveryPage:
    """The tenant's deliveries newest first, each with its attempts."""
    _require_admin(actor)
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(f"first must be 1 to {MAX_PAGE}", fields={"first": f"1 to {MAX_PAGE}"})
    before_id = decode_cursor(after) if after else None
    async with deps.reader() as connection:
        deliveries, has_next, total = await store.list_deliveries(
            connection, tenant_id, first=first, before_id=before_id
        )
        attempts = await store.attempts_for(connection, [delivery.id for delivery in deliveries])
    return DeliveryPage(deliveries=deliveries, attempts=attempts, has_next_page=has_next, total_count=total)


async def dispatch_notifications(deps: Deps, *, batch: int = 500, tenants: int = 100) -> int:
    """Queue deliveries for numbered events past each tenant's cursor; returns how many were queued.

    Each tenant moves in its own transaction: deliveries and the cursor commit together, so a crash
    repeats at most the unfinished batch (and the unique key drops the repeats)."""
    async with deps.reader() as connection:
        behind = await store.tenants_behind(connection, limit=tenants)
    queued = 0
    for tenant_id in behind:
        while True:
            created, more = await _dispatch_tenant(deps, tenant_id, batch=batch)
            queued += created
            if not more:
                break
    return queued


async def _dispatch_tenant(deps: Deps, tenant_id: UUID, *, batch: int) -> tuple[int, bool]:
    async with deps.unit_of_work() as tx:
        cursor = await store.lock_cursor(tx.connection, tenant_id)
        if cursor is None:
            return 0, False
        targets = await store.active_targets(tx.connection, tenant_id)
        if not targets:
            # Nothing listens: skip the history. Targets created later start from their creation.
            await store.advance_cursor(
                tx.connection, tenant_id, await store.latest_seq(tx.connection, tenant_id)
            )
            return 0, False
        events = await store.events_after(tx.connection, tenant_id, cursor, limit=batch)
        if not events:
            return 0, False
        now = deps.clock.now()
        deliveries: list[NewDelivery] = []
        for event in events:
            kind = notification_kind(event.type, event.payload)
            if kind is None:
                continue
            for target in targets:
                # A target hears of events from its creation on, not of the backlog before it.
                if kind not in target.events or event.created_at < target.created_at:
                    continue
                channels = ([Channel.WEBHOOK] if target.url else []) + (
                    [Channel.EMAIL] if target.emails else []
                )
                deliveries.extend(
                    NewDelivery(
                        tenant_id=tenant_id,
                        target_id=target.id,
                        channel=channel,
                        event_seq=event.seq,
                        event_type=event.type,
                        kind=kind,
                        payload=event.payload,
                        occurred_at=event.created_at,
                        next_attempt_at=now,
                    )
                    for channel in channels
                )
        created = await store.insert_deliveries(tx.connection, deliveries)
        await store.advance_cursor(tx.connection, tenant_id, events[-1].seq)
    return created, len(events) == batch


async def deliver_due_notifications(
    deps: Deps, *, sender: NotificationSender, policy: RetryPolicy, limit: int = 20
) -> int:
    """Send up to `limit` due deliveries concurrently, log each attempt, schedule retries; returns how many."""
    now = deps.clock.now()
    async with deps.unit_of_work() as tx:
        claimed = await store.claim_due(tx.connection, now=now, lease_until=now + LEASE, limit=limit)
    if claimed:
        await asyncio.gather(
            *(_deliver(deps, delivery, sender=sender, policy=policy) for delivery in claimed)
        )
    return len(claimed)


async def _deliver(
    deps: Deps, delivery: ClaimedDelivery, *, sender: NotificationSender, policy: RetryPolicy
) -> None:
    message = compose(
        kind=delivery.kind,
        delivery_id=delivery.id,
        tenant_id=str(delivery.tenant_id),
        tenant_name=delivery.tenant_name,
        event_seq=delivery.event_seq,
        event_type=delivery.event_type,
        occurred_at=delivery.occurred_at,
        payload=delivery.payload,
    )
    started_at = deps.clock.now()
    started = time.perf_counter()
    try:
        if delivery.channel is Channel.WEBHOOK and delivery.url:
            body = message.body()
            timestamp = int(started_at.timestamp())
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(delivery.secret or "", timestamp, body),
                DELIVERY_HEADER: str(delivery.id),
            }
            outcome = await sender.post_json(delivery.url, body=body, headers=headers)
        elif delivery.channel is Channel.EMAIL and delivery.emails:
            outcome = await sender.send_email(delivery.emails, subject=message.subject, text=message.text)
        else:
            outcome = SendOutcome(ok=False, error=f"the target has no {delivery.channel.value} destination")
    except Exception:
        # A sender should not raise; if it does, the attempt still counts and is retried. The detail
        # goes to the server log, not to the delivery log admins read.
        log.exception("notification sender raised", extra={"delivery": delivery.id})
        outcome = SendOutcome(ok=False, error=DELIVERY_FAILED)
    duration_ms = round((time.perf_counter() - started) * 1000)
    finished_at = deps.clock.now()
    if outcome.ok:
        status, retry_at = DeliveryStatus.DELIVERED, None
    else:
        retry_at = next_attempt_at(
            queued_at=delivery.created_at,
            failed_at=finished_at,
            failures=delivery.attempt,
            base=policy.base_seconds,
            cap=policy.cap_seconds,
            jitter=random.random(),
        )
        status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.FAILED
    async with deps.unit_of_work() as tx:
        await store.record_attempt(
            tx.connection,
            delivery_id=delivery.id,
            attempt=delivery.attempt,
            started_at=started_at,
            duration_ms=duration_ms,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
            status=status,
            next_attempt_at=retry_at,
            finished_at=finished_at,
        )
