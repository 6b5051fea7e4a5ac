"""Notifications: which events notify, the retry schedule, webhook signing and message wording."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.events import EventType
from domain.leads import LeadStatus

SIGNATURE_HEADER = "X-CallTrax-Signature"
TIMESTAMP_HEADER = "X-CallTrax-Timestamp"
DELIVERY_HEADER = "X-CallTrax-Delivery"
# Deliveries are retried for this long after they were queued, then given up.
RETRY_WINDOW = timedelta(hours=24)
# What the delivery log (read by admins) says of a webhook attempt that got no HTTP answer: one class
# for every way of failing, so that the log cannot tell closed, filtered, TLS and other ports apart.
DELIVERY_FAILED = "delivery failed"
# The host is or resolves to an address outside what the server's operator allows; nothing was sent.
DESTINATION_NOT_ALLOWED = "destination not allowed"
# A receiver should refuse signatures older than this (replays of a captured request).
SIGNATURE_TOLERANCE = timedelta(minutes=5)


class NotificationKind(StrEnum):
    NEW_LEAD = "new_lead"
    SLA_BREACHED = "sla_breached"
    BOOKED = "booked"


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Gave up: the retry window ran out.
    FAILED = "failed"
    # The target was deleted before the delivery went out.
    CANCELLED = "cancelled"


ALL_KINDS: frozenset[NotificationKind] = frozenset(NotificationKind)


def notification_kind(event_type: EventType, payload: dict[str, Any]) -> NotificationKind | None:
    """What an event notifies about, or None: new leads, SLA breaches, and leads that became booked."""
    if event_type is EventType.LEAD_CREATED:
        return NotificationKind.NEW_LEAD
    if event_type is EventType.SLA_BREACHED:
        return NotificationKind.SLA_BREACHED
    if event_type is EventType.LEAD_UPDATED:
        lead = payload.get("lead") or {}
        if "status" in (payload.get("changes") or []) and lead.get("status") == LeadStatus.BOOKED.value:
            return NotificationKind.BOOKED
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule's knobs (settings): the first delay and the cap on a single delay."""

    base_seconds: float = 10.0
    cap_seconds: float = 3600.0


def backoff_delay(failures: int, *, base: float, cap: float, jitter: float) -> timedelta:
    """The wait after the `failures`-th failed attempt: base * 2^(failures-1), capped, with "equal
    jitter" (half fixed, half random; `jitter` is a random number in [0, 1)) so that targets failing
    together do not retry in lockstep, while no retry comes sooner than half the schedule."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    if not 0 <= jitter < 1:
        raise ValueError("jitter is a number in [0, 1)")
    # The exponent is bounded before it is used, so a long failure streak cannot overflow.
    delay = min(cap, base * 2 ** min(failures - 1, 62))
    return timedelta(seconds=delay / 2 + delay / 2 * jitter)


def next_attempt_at(
    *, queued_at: datetime, failed_at: datetime, failures: int, base: float, cap: float, jitter: float
) -> datetime | None:
    """When to try again after a failure, or None when that would fall outside the retry window."""
    at = failed_at + backoff_delay(failures, base=base, cap=cap, jitter=jitter)
    return at if at <= queued_at + RETRY_WINDOW else None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body): the timestamp is signed too, so a
    captured request cannot be replayed later with a fresh timestamp header."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver does: the signature matches (constant-time) and the timestamp is recent."""
    if not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(frozen=True)
class Message:
    """What one delivery sends: the JSON document for webhooks, subject and text for email."""

    document: dict[str, Any]
    subject: str
    text: str

    def body(self) -> bytes:
        """The exact bytes POSTed (and signed): compact, key order kept."""
        return json.dumps(self.document, separators=(",", ":"), ensure_ascii=False).encode()


_SUBJECTS = {
    NotificationKind.NEW_LEAD: "New lead",
    NotificationKind.SLA_BREACHED: "Speed-to-lead SLA breached",
    NotificationKind.BOOKED: "Lead booked",
}


def compose(
    *,
    kind: NotificationKind,
    delivery_id: int,
    tenant_id: str,
    tenant_name: str,
    event_seq: int,
    event_type: str,
    occurred_at: datetime,
    payload: dict[str, Any],
) -> Message:
    """The message for one delivery: the event's lead and contact snapshots, and a short email."""
    lead = payload.get("lead") or {}
    contact = payload.get("contact") or {}
    document = {
        "id": delivery_id,
        "kind": kind.value,
        "tenant": {"id": tenant_id, "name": tenant_name},
        "event": {"seq": event_seq, "type": event_type, "occurred_at": occurred_at.isoformat()},
        "lead": lead,
        "contact": contact,
    }
    who = (
        contact.get("name")
        or contact.get("phone")
        or contact.get("email")
        or contact.get("phone_raw")
        or "unknown"
    )
    lines = [
        f"{_SUBJECTS[kind]} for {tenant_name}.",
        "",
        f"Contact: {who}",
        f"Phone: {contact.get('phone') or contact.get('phone_raw') or '-'}",
        f"Email: {contact.get('email') or '-'}",
        f"Lead: {lead.get('id', '-')} (source {lead.get('source', '-')}, status {lead.get('status', '-')})",
        f"Received: {lead.get('created_at', '-')}",
    ]
    if kind is NotificationKind.SLA_BREACHED:
        lines.append(f"SLA ran out at: {lead.get('sla_breached_at', '-')} with no call attempt")
    return Message(
        document=document,
        subject=f"[CallTrax] {_SUBJECTS[kind]}: {who} ({tenant_name})",
        text="\n".join(lines) + "\n",
    )
