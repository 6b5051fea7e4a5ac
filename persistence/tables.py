"""The data model (docs/data-model.md) as SQLAlchemy tables; Alembic migrations must match it."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.calls import CallDirection, CallStatus
from domain.leads import LeadStatus, PipelineStage
from domain.notifications import Channel, DeliveryStatus, NotificationKind
from domain.roles import Role
from domain.tenants import TenantStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: type[Any]) -> str:
    listed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({listed})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(_one_of("status", TenantStatus), name="status"),
        UniqueConstraint("slug"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    timezone: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=TenantStatus.ACTIVE.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    dialpad_mode: Mapped[str | None] = mapped_column(Text)
    # The company endpoint routes an event to the tenant whose call center is on it (migration 0012).
    dialpad_call_center_id: Mapped[str | None] = mapped_column(Text, index=True)
    dialpad_webhook_id: Mapped[str | None] = mapped_column(Text)
    dialpad_subscription_id: Mapped[str | None] = mapped_column(Text)
    # Signs Dialpad's event JWTs; never leaves the server through the API.
    dialpad_webhook_secret: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class LeadWebhook(Base):
    __tablename__ = "lead_webhooks"
    __table_args__ = (UniqueConstraint("token"), Index(None, "tenant_id"))

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    # The URL secret: at least 128 random bits, URL-safe.
    token: Mapped[str] = mapped_column(Text, nullable=False)
    label: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = _created()
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone"),
        Index(None, "tenant_id", "email"),
        # The company endpoint finds the tenants with a lead at an event's number (migration 0012).
        Index(None, "phone"),
        # A phoneless contact is unique by email, so racing email-only leads make one contact.
        Index(
            "uq_contacts_tenant_id_email_phoneless",
            "tenant_id",
            "email",
            unique=True,
            postgresql_where=text("phone IS NULL AND email IS NOT NULL"),
        ),
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL OR phone_raw IS NOT NULL", name="reachable"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    # E.164, or null when the source gave none or an unparsable one (kept in phone_raw).
    phone: Mapped[str | None] = mapped_column(Text)
    phone_raw: Mapped[str | None] = mapped_column(Text)
    phone_invalid: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    email: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_one_of("status", LeadStatus), name="status"),
        CheckConstraint(_one_of("stage", PipelineStage), name="stage"),
        # Newest-first lists and metric ranges per tenant.
        Index(None, "tenant_id", text("created_at DESC"), text("id DESC")),
        # Linking a call to the contact's latest lead before the call.
        Index(None, "contact_id", "created_at"),
        # The pipeline board reads only open leads.
        Index(
            "ix_leads_open_by_tenant",
            "tenant_id",
            "created_at",
            postgresql_where=text("status IN ('new', 'contacted')"),
        ),
        # Metrics over a range read the derived facts, and the breakdowns' source, contact,
        # booking and attempt facts, from the index alone (migrations 0008, 0016, 0017).
        Index(
            "ix_leads_metrics",
            "tenant_id",
            "created_at",
            postgresql_include=[
                "first_attempt_at",
                "first_connected_at",
                "id",
                "contact_id",
                "source",
                "booked_at",
                "attempts_to_contact",
                "first_attempt_agent_id",
            ],
        ),
        Index(
            "uq_leads_tenant_id_external_id",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(
            "uq_leads_tenant_id_idempotency_key",
            "tenant_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # The stage sweep reads, per tenant and stored stage, only the open leads whose age left it.
        Index(
            "ix_leads_open_by_stage",
            "tenant_id",
            "stage",
            "created_at",
            postgresql_where=text("status IN ('new', 'contacted')"),
        ),
        # Its open leads without a stage yet (a small set, usually empty): `stage IS NULL` in the
        # index above is costed as half of it (half the table's stages are NULL: closed leads), so
        # PostgreSQL read every lead of the tenant instead (migration 0019).
        Index(
            "ix_leads_open_unstaged",
            "tenant_id",
            postgresql_where=text("stage IS NULL AND status IN ('new', 'contacted')"),
        ),
        # The SLA sweep reads only leads still waiting for a first attempt (a small set).
        Index(
            "ix_leads_sla_pending",
            "created_at",
            postgresql_where=text("first_attempt_at IS NULL AND sla_breached_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    )
    lead_webhook_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("lead_webhooks.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="webhook")
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=LeadStatus.NEW.value)
    notes: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    raw_data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    external_id: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    # When CallTrax received the lead: the start of the speed-to-lead clock.
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Derived by call processing so metrics read one table.
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    booked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Attempt facts, kept by a trigger from the calls (persistence/sql/call_attempt_facts.sql,
    # migration 0017): attempts up to and including the first contact (all while never reached),
    # and the agent of the first attempt.
    attempts_to_contact: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    first_attempt_agent_id: Mapped[str | None] = mapped_column(Text)
    # The pipeline column the board last showed (NULL off the board: booked or closed). Writers set it
    # with the status; the stage sweep moves it as the lead ages, recording LEAD_STAGE_CHANGED.
    stage: Mapped[str | None] = mapped_column(Text)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        CheckConstraint(_one_of("direction", CallDirection), name="direction"),
        CheckConstraint(_one_of("status", CallStatus), name="status"),
        Index(None, "tenant_id", text("started_at DESC"), text("id DESC")),
        # A lead's calls in order; the leads page reads their statuses from the index alone (0018).
        Index(
            "ix_calls_lead_calls",
            "lead_id",
            "started_at",
            "id",
            postgresql_include=["is_primary_leg", "status"],
        ),
        Index(None, "contact_id", "started_at"),
        # The company endpoint sends a leg where its linked legs went (migration 0012).
        Index(None, "external_id"),
        # Call rates, the trend and the breakdowns (agents, missed calls and their callbacks) read
        # primary legs from the index alone (migrations 0008, 0016, 0017).
        Index(
            "ix_calls_metrics",
            "tenant_id",
            "started_at",
            postgresql_include=[
                "direction",
                "connected_at",
                "booked",
                "contact_id",
                "status",
                "ended_at",
                "agent_id",
                "callback_at",
            ],
            postgresql_where=text("is_primary_leg"),
        ),
        # The legs of a customer call (migration 0012).
        Index("ix_calls_customer_call", "tenant_id", "customer_call_key"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    # Dialpad's call_id: a number in events, a string in REST; stored as text.
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="SET NULL")
    )
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=CallStatus.RINGING.value)
    disposition: Mapped[str | None] = mapped_column(Text)
    disposition_raw: Mapped[str | None] = mapped_column(Text)
    booked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    from_number: Mapped[str | None] = mapped_column(Text)
    to_number: Mapped[str | None] = mapped_column(Text)
    external_number: Mapped[str | None] = mapped_column(Text)
    internal_number: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(Text)
    agent_name: Mapped[str | None] = mapped_column(Text)
    agent_email: Mapped[str | None] = mapped_column(Text)
    master_call_id: Mapped[str | None] = mapped_column(Text)
    entry_point_call_id: Mapped[str | None] = mapped_column(Text)
    operator_call_id: Mapped[str | None] = mapped_column(Text)
    # Legs of one customer call share a key (the primary leg's id); the primary leg's row holds the
    # customer call (domain.call_projection) and is the one metrics, lists and exports count.
    customer_call_key: Mapped[str | None] = mapped_column(Text)
    is_primary_leg: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Part of a customer call of several legs (its events then re-project the whole customer call).
    linked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rang_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    recording_url: Mapped[str | None] = mapped_column(Text)
    voicemail_url: Mapped[str | None] = mapped_column(Text)
    voicemail: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An inbound customer call's callback: the start of the next outbound customer call to its
    # contact, kept by a trigger (persistence/sql/call_attempt_facts.sql, migration 0017).
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Stored events of this call; see persistence.calls._STORE_AND_LOCK.
    event_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class CallEvent(Base):
    __tablename__ = "call_events"
    __table_args__ = (
        # Dialpad sends no event id and may deliver an event more than once.
        # Also the index for a call's events (its leading columns).
        UniqueConstraint("tenant_id", "call_external_id", "state", "event_timestamp_ms"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    call_external_id: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    event_timestamp_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # 'dialpad' (real JWT/JSON events) or 'seed' (the simplified event_type format).
    format: Mapped[str] = mapped_column(Text, nullable=False, server_default="dialpad")
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = _created()


class DialpadCompany(Base):
    """The one company-wide Dialpad webhook and call subscription, and the secret events are signed with."""

    __tablename__ = "dialpad_company"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default=text("1"))
    secret: Mapped[str] = mapped_column(Text, nullable=False)
    hook_url: Mapped[str | None] = mapped_column(Text)
    webhook_id: Mapped[str | None] = mapped_column(Text)
    subscription_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class DialpadInbox(Base):
    """Company events no tenant could be found for (or internal calls), kept raw; routed later."""

    __tablename__ = "dialpad_inbox"
    __table_args__ = (
        # Redeliveries of an event are one row, as in call_events.
        UniqueConstraint("call_external_id", "state", "event_timestamp_ms"),
        Index(
            "ix_dialpad_inbox_waiting",
            "external_number",
            postgresql_where=text("routed_at IS NULL AND reason = 'NO_TENANT'"),
        ),
        Index(None, "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    call_external_id: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    event_timestamp_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # E.164 when readable: a lead arriving with this number routes the event.
    external_number: Mapped[str | None] = mapped_column(Text)
    # Why it was not routed: NO_TENANT (waits for a lead) or INTERNAL (stored, never counted).
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = _created()
    routed_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="SET NULL")
    )
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", Role), name="role"),
        CheckConstraint("role <> 'client' OR tenant_id IS NOT NULL", name="client_has_tenant"),
        UniqueConstraint("email"),
    )

    # The token's `sub`.
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    email: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    # A client's own tenant.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE")
    )
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # The agent's Dialpad user id: assignAgent makes them an operator of the tenant's call center.
    dialpad_user_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class AgentAssignment(Base):
    __tablename__ = "agent_assignments"
    __table_args__ = (PrimaryKeyConstraint("user_id", "tenant_id"), Index(None, "tenant_id"))

    user_id: Mapped[str] = mapped_column(Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    created_at: Mapped[datetime] = _created()


class LeadNote(Base):
    __tablename__ = "lead_notes"
    __table_args__ = (Index(None, "lead_id", "created_at"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[str | None] = mapped_column(Text, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()


class LeadStatusChange(Base):
    """Each status change of a lead, for its timeline."""

    __tablename__ = "lead_status_changes"
    __table_args__ = (Index(None, "lead_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text, nullable=False)
    # A user's id, or null when a call event moved it.
    changed_by: Mapped[str | None] = mapped_column(Text, ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PublicLink(Base):
    __tablename__ = "public_links"
    __table_args__ = (UniqueConstraint("token"), Index(None, "tenant_id"))

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    token: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str | None] = mapped_column(Text, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A tenant's ordered history. Written with seq NULL in the change's transaction; the relay
    numbers committed rows per tenant in batches, so writers never serialise on a counter."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        Index("ix_events_unsequenced", "tenant_id", "id", postgresql_where=text("seq IS NULL")),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    seq: Mapped[int | None] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = _created()


class EventSequence(Base):
    """The last seq handed out per tenant."""

    __tablename__ = "event_sequences"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))


class NotificationTarget(Base):
    """Where a tenant's notifications go: a signed webhook URL and/or email addresses."""

    __tablename__ = "notification_targets"
    __table_args__ = (
        Index(None, "tenant_id"),
        CheckConstraint("url IS NOT NULL OR cardinality(emails) > 0", name="has_destination"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    url: Mapped[str | None] = mapped_column(Text)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'"))
    # NotificationKind values this target wants.
    events: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # Signs webhook bodies (HMAC-SHA256); shown once on creation, never again through the API.
    secret: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    # Deleted targets keep their delivery history; pending deliveries are cancelled.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationCursor(Base):
    """The last event seq per tenant the notification dispatcher has turned into deliveries."""

    __tablename__ = "notification_cursors"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    updated_at: Mapped[datetime] = _created()


class NotificationDelivery(Base):
    """One event to one target over one channel, retried until delivered or the window runs out."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # The dispatcher may see an event twice (crash before its cursor moved): one delivery only.
        UniqueConstraint("target_id", "event_seq", "channel"),
        CheckConstraint(_one_of("channel", Channel), name="channel"),
        CheckConstraint(_one_of("kind", NotificationKind), name="kind"),
        CheckConstraint(_one_of("status", DeliveryStatus), name="status"),
        # The worker's queue: only pending rows, by when they are due.
        Index(
            "ix_notification_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # Newest-first lists per tenant.
        Index(None, "tenant_id", text("id DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    target_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("notification_targets.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    event_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # The event's payload (lead and contact snapshots), kept so every retry sends the same content.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # When the next attempt is due; while an attempt runs, the end of its lease.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationAttempt(Base):
    """Every try of a delivery: when, how long, and the HTTP status or the error."""

    __tablename__ = "notification_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("notification_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
