"""Calls and their Dialpad events: storing events once, locking and re-projecting a call, lead facts.

The webhook's hot path, so every statement runs on the driver inside the caller's transaction
(`Transaction.fetchrow`) and does as much as it can in one round trip: storing the event, locking
its call row and reading the call's history is one statement.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.calls import CallDirection
from domain.dialpad_events import CallEventFacts
from domain.dispositions import Disposition
from domain.leads import LeadStatus, advancing_to
from domain.tenants import TenantSettings
from persistence.db import DriverStatement, json_value
from persistence.errors import LOST_RACE, sqlstate
from persistence.lead_stages import OPEN_STATUSES_SQL
from persistence.lead_status import stage_after_move_sql
from persistence.rows import CallRow
from persistence.snapshots import call_snapshot_sql, contact_snapshot_sql, lead_snapshot_sql
from persistence.sql_files import compact, fill_fragments, read_sql
from persistence.tables import Call
from persistence.unit_of_work import Statements, Transaction


def _call(row: Mapping[str, Any]) -> CallRow:
    return CallRow.from_mapping(row)


@dataclass(frozen=True)
class EventTenant:
    """What verifying and projecting a tenant's call events needs."""

    id: UUID
    slug: str
    timezone: str
    dialpad_webhook_secret: str | None
    settings: TenantSettings
    # The settings as stored, so the event write can check they are still the tenant's.
    settings_json: str


_EVENT_TENANT = DriverStatement(
    text("SELECT id, slug, timezone, dialpad_webhook_secret, settings FROM tenants WHERE slug = :slug")
)


async def get_event_tenant(connection: AsyncConnection, slug: str) -> EventTenant | None:
    """The tenant at this Dialpad webhook slug, read now (autocommit); None when unknown."""
    row = await _EVENT_TENANT.fetchrow(connection, {"slug": slug})
    if row is None:
        return None
    settings = row["settings"]
    settings_json = settings if isinstance(settings, str) else json.dumps(settings)
    return EventTenant(
        id=row["id"],
        slug=row["slug"],
        timezone=row["timezone"],
        dialpad_webhook_secret=row["dialpad_webhook_secret"],
        settings=TenantSettings.from_json(json.loads(settings_json)),
        settings_json=settings_json,
    )


class TenantChanged(Exception):
    """The tenant's secret, timezone, settings or slug are no longer what the caller verified with."""


# The legs of one customer call are events of several call rows, and one leg's event may re-project
# the others (the customer call lives on its primary leg). Every event therefore first takes a
# transaction advisory lock on its customer, (tenant, the customer's number) (`lock_scope`), before
# its call row's lock: events of one customer's calls apply one after the other, so a leg always
# sees the legs that arrived before it, and no two legs wait on each other's rows. An event without
# a number locks the tenant's numberless scope. The two-int form keeps these keys apart from the
# bigint keys of other locks.
_CUSTOMER_LOCK_CLASS = 14


def customer_lock_scope(tenant_id: UUID, external_e164: str | None) -> str:
    """The advisory-lock scope of a tenant's customer (the number's digits; empty when unknown)."""
    return f"{tenant_id}:{external_e164 or ''}"


# The tenant, when it is still as the caller read it, with the customer lock: a CTE of the statements
# that store an event (persistence/sql/call_tenant_current.sql).
_TENANT_CURRENT = fill_fragments(
    read_sql("call_tenant_current"), {"customer_lock_class": str(_CUSTOMER_LOCK_CLASS)}
)


# Checks the tenant is still as the caller read it (it may come from a per-process cache). Stores
# the event unless it is a redelivery and, only for a new event, locks (creating if needed) its call
# row: concurrent events of one call then project one after the other. The DO UPDATE takes the row
# lock and counts the event (`event_count`); RETURNING yields the row as it was, bar that count.
#
# The same statement reads the call's stored events, which saves a round trip, but they come from
# the statement's snapshot, taken before the lock was granted. They are complete when the count of
# events read is the call's count before this one (every event's write counts itself under the
# lock); otherwise another transaction committed an event meanwhile, and the caller reads the history
# again under the lock (`_LOCKED_CALL_AND_HISTORY`). A caller that already knows the call's events
# (this process applied or read them) says so with the row id and count it saw (`known`): when the
# locked row still has them, nothing is read or sent back. No lookup of the call row by a second index:
# on a new database without statistics, the planner chose the tenant's call-list index for it and
# read every call of the tenant per event.
_STORE_AND_LOCK = DriverStatement(
    text(
        f"""
    WITH {_TENANT_CURRENT},
    stored AS (
        INSERT INTO call_events (tenant_id, call_external_id, state, event_timestamp_ms, format, raw)
        SELECT id, :call_id, :state, :event_ms, :format, :raw FROM tenant
        ON CONFLICT (tenant_id, call_external_id, state, event_timestamp_ms) DO NOTHING
        RETURNING id
    ),
    locked AS (
        INSERT INTO calls (tenant_id, external_id, direction, customer_call_key, event_count)
        SELECT :tenant_id, :call_id, :direction, :call_id, 1 FROM stored
        ON CONFLICT (tenant_id, external_id) DO UPDATE SET event_count = calls.event_count + 1
        RETURNING calls.*, calls.xmin::text AS row_version
    )
    SELECT EXISTS (SELECT 1 FROM tenant) AS tenant_current, EXISTS (SELECT 1 FROM stored) AS stored,
        CASE WHEN known.yes THEN NULL ELSE history.payloads END AS history,
        known.yes OR history.seen = locked.event_count - 1 AS history_complete,
        locked.*
    FROM (SELECT 1) AS one
    LEFT JOIN locked ON true
    CROSS JOIN LATERAL (
        SELECT locked.id = CAST(:known_id AS uuid) AND locked.event_count - 1 = CAST(:known_count AS integer)
            AS yes
    ) AS known
    -- The events the caller does not know already (`known_*`: it knows them when the row and its
    -- count are still what it saw); not read at all when it does.
    LEFT JOIN LATERAL (
        SELECT coalesce(jsonb_agg(raw ORDER BY event_timestamp_ms, state), '[]') AS payloads, count(*) AS seen
        FROM call_events WHERE tenant_id = :tenant_id AND call_external_id = :call_id
            AND known.yes IS NOT TRUE AND locked.id IS NOT NULL
    ) AS history ON true
    """
    ).bindparams(bindparam("raw", type_=JSONB))
)

_LOCKED_CALL_AND_HISTORY = DriverStatement(
    text(
        """
    SELECT calls.*, calls.xmin::text AS row_version, (
        SELECT coalesce(jsonb_agg(raw ORDER BY event_timestamp_ms, state), '[]') FROM call_events
        WHERE call_events.tenant_id = calls.tenant_id AND call_events.call_external_id = calls.external_id
            AND (call_events.state, call_events.event_timestamp_ms) <> (:state, :event_ms)
    ) AS history
    FROM calls WHERE tenant_id = :tenant_id AND external_id = :call_id
    """
    )
)


@dataclass(frozen=True)
class LockedCall:
    """A call row as it was before this event (bar its event count), locked by this transaction.

    `history` holds the raw payloads of the call's other stored events, oldest first; None when they
    are the ones the caller said it knows (`KnownEvents`). `event_count` counts them all (this event
    included, for the event's own call)."""

    call: CallRow
    history: list[dict[str, Any]] | None
    event_count: int
    # The row's version (its xmin) as locked: given for the event's own call only.
    row_version: str | None = None


@dataclass(frozen=True)
class KnownEvents:
    """A call row and its count of stored events, as the caller last saw them with its events."""

    call_id: UUID
    event_count: int


async def store_event_and_lock_call(
    tx: Transaction,
    *,
    tenant: EventTenant,
    facts: CallEventFacts,
    raw: dict[str, Any],
    lock_scope: str,
    known: KnownEvents | None = None,
) -> LockedCall | None:
    """Store the raw event once; for a new event the call row as it was, now locked; None = duplicate.

    Writes nothing and raises `TenantChanged` unless `tenant` (what the event was verified and will
    be projected with) is still the tenant's current state."""
    tenant_id = tenant.id
    row = await tx.fetchrow(
        _STORE_AND_LOCK,
        {
            "tenant_id": tenant_id,
            "slug": tenant.slug,
            "timezone": tenant.timezone,
            "secret": tenant.dialpad_webhook_secret,
            "settings": tenant.settings_json,
            "call_id": facts.call_id,
            "state": facts.state,
            "event_ms": facts.event_ms,
            "format": facts.format,
            "raw": raw,
            "direction": facts.direction.value,
            "lock_scope": lock_scope,
            "known_id": known.call_id if known else None,
            "known_count": known.event_count if known else None,
        },
    )
    assert row is not None  # the statement always yields its one row
    if not row["tenant_current"]:
        raise TenantChanged(tenant.slug)
    if not row["stored"]:
        return None
    if not row["history_complete"]:
        # Another transaction stored an event of this call after this statement's snapshot: read again.
        row = await tx.fetchrow(
            _LOCKED_CALL_AND_HISTORY,
            {
                "tenant_id": tenant_id,
                "call_id": facts.call_id,
                "state": facts.state,
                "event_ms": facts.event_ms,
            },
        )
        assert row is not None  # locked by this transaction, so it exists
    return _locked(row)


# The statuses a connect moves to CONTACTED (the rule is domain.leads.advance_status).
_CONTACTED_FROM = [status.value for status in advancing_to(LeadStatus.CONTACTED)]

PROJECTED_COLUMNS = (
    "direction",
    "status",
    "from_number",
    "to_number",
    "external_number",
    "internal_number",
    "agent_id",
    "agent_name",
    "agent_email",
    "master_call_id",
    "entry_point_call_id",
    "operator_call_id",
    "customer_call_key",
    "is_primary_leg",
    "linked",
    "started_at",
    "rang_at",
    "connected_at",
    "ended_at",
    "duration_seconds",
    "recording_url",
    "voicemail_url",
    "voicemail",
    "last_event_at",
)


# A leg row's columns: its projection and its own leg's disposition.
LEG_COLUMNS = (*PROJECTED_COLUMNS, "disposition", "disposition_raw", "booked")


# Writing leg rows other than a customer call's primary (`legs`: a JSON array of rows with
# `external_id` and LEG_COLUMNS), creating missing ones, with the contact and lead of `primary_row`
# (a CTE with one row: contact_id, lead_id).
def _legs_upsert(primary_row: str) -> str:
    return f"""
    INSERT INTO calls (tenant_id, external_id, contact_id, lead_id, {", ".join(LEG_COLUMNS)})
    SELECT CAST(:tenant_id AS uuid), leg.external_id, (SELECT contact_id FROM {primary_row}),
        (SELECT lead_id FROM {primary_row}), {", ".join(f"leg.{name}" for name in LEG_COLUMNS)}
    FROM jsonb_populate_recordset(NULL::calls, CAST(:legs AS jsonb)) AS leg
    ORDER BY leg.external_id
    ON CONFLICT (tenant_id, external_id) DO UPDATE SET
        {", ".join(f"{name} = EXCLUDED.{name}" for name in LEG_COLUMNS)},
        contact_id = EXCLUDED.contact_id, lead_id = EXCLUDED.lead_id, updated_at = now()
    """


def projection_differs(call: CallRow | None, columns: dict[str, object], contact_id: UUID | None) -> bool:
    """True when writing `columns` and `contact_id` would change the call row (always for a new row)."""
    if call is None or call.contact_id != contact_id:
        return True
    return any(getattr(call, name) != columns[name] for name in PROJECTED_COLUMNS)


@dataclass(frozen=True)
class CallContact:
    """Who a call is with: a known contact id, or a phone whose contact is found or made."""

    contact_id: UUID | None = None
    phone_e164: str | None = None
    name: str | None = None


_CALL_FOR_UPDATE = DriverStatement(
    text(
        """
    SELECT calls.*, tenants.settings AS tenant_settings
    FROM calls JOIN tenants ON tenants.id = calls.tenant_id
    WHERE calls.id = :id
    FOR NO KEY UPDATE OF calls
    """
    )
)


async def get_call_for_update(tx: Transaction, call_id: UUID) -> tuple[CallRow, TenantSettings] | None:
    """A call, locked, with its tenant's settings; None when unknown."""
    row = await tx.fetchrow(_CALL_FOR_UPDATE, {"id": call_id})
    if row is None:
        return None
    return _call(row), TenantSettings.from_json(json_value(row["tenant_settings"]))


_SET_DISPOSITION = DriverStatement(
    text(
        """
    UPDATE calls SET disposition = :disposition, disposition_raw = :disposition_raw, booked = :booked,
        updated_at = now()
    WHERE id = :id
    RETURNING *
    """
    )
)


def disposition_differs(call: CallRow | None, disposition: Disposition) -> bool:
    """True when setting `disposition` would change the call row (a new row has none)."""
    stored = (call.disposition, call.disposition_raw, call.booked) if call else (None, None, False)
    return stored != (
        disposition.value,
        disposition.raw,
        disposition.booked,
    )


async def set_disposition(tx: Transaction, *, call_id: UUID, disposition: Disposition) -> CallRow:
    row = await tx.fetchrow(
        _SET_DISPOSITION,
        {
            "id": call_id,
            "disposition": disposition.value,
            "disposition_raw": disposition.raw,
            "booked": disposition.booked,
        },
    )
    assert row is not None  # the caller holds the call's lock
    return _call(row)


async def count_call_events(connection: AsyncConnection, tenant_id: UUID) -> int:
    """How many events a tenant has stored (the benchmark checks nothing was lost)."""
    result = await connection.execute(
        text("SELECT count(*) FROM call_events WHERE tenant_id = :tenant_id"), {"tenant_id": tenant_id}
    )
    return int(result.scalar_one())


@dataclass(frozen=True)
class Booking:
    """A booking disposition's effect on its lead: booked at `at`, and moved on to BOOKED from
    `from_statuses` (`domain.leads.advancing_to`)."""

    at: datetime
    reason: str
    from_statuses: tuple[LeadStatus, ...]
    changed_by: str | None = None


def _booking_values(booking: Booking | None) -> dict[str, Any]:
    return {
        "booked_at": booking.at if booking else None,
        "booked_from": [status.value for status in booking.from_statuses] if booking else [],
        "booked_reason": booking.reason if booking else None,
        "changed_by": booking.changed_by if booking else None,
    }


# What a call's change does to its leads: the CTEs of `persistence/sql/call_outcome.sql`, after a
# one-row CTE `inputs` (the file lists its columns), with `contact_of_lead` finding the contact of a
# changed lead. Their generated parts come from their one home: the open statuses
# (`persistence/lead_stages.py`), the stage after a move (`persistence/lead_status.py`), the
# snapshots (`persistence/snapshots.py`).
_OUTCOME_SQL = read_sql("call_outcome")


def _outcome_ctes(contact_of_lead: str) -> str:
    return fill_fragments(
        _OUTCOME_SQL,
        {
            "open_statuses": OPEN_STATUSES_SQL,
            # Automatic moves start from an open status, so the branch for a lead coming back to the
            # board (which reads the tenant's bounds) never runs; its subquery is then never evaluated.
            "stage_after_move": stage_after_move_sql(
                from_status="status",
                to_status="new_status",
                stage="stage",
                created_at="created_at",
                settings="(SELECT t.settings FROM tenants AS t WHERE t.id = moves.tenant_id)",
                at="moved_at",
            ),
            "lead_snapshot": lead_snapshot_sql("changed"),
            "contact_snapshot": contact_snapshot_sql("c"),
            "contact_of_lead": contact_of_lead,
        },
    )


_BOOKING_PARAMS = (bindparam("booked_at", type_=DateTime(timezone=True)),)

# A disposition without a projection change (the GraphQL door, or a redelivered dispositions event):
# CALL_UPDATED when given, and the booking, when given, of lead `lead_id`.
_CALL_OUTCOME = DriverStatement(
    text(
        compact(f"""
    WITH inputs AS (
        SELECT CAST(:tenant_id AS uuid) AS tenant_id, CAST(:call_payload AS jsonb) AS call_payload,
            CAST(:lead_id AS uuid) AS lead_id, CAST(NULL AS uuid) AS served_contact_id,
            CAST(NULL AS timestamptz) AS served_until, CAST(NULL AS text) AS call_direction,
            CAST(NULL AS boolean) AS call_primary, CAST(NULL AS timestamptz) AS attempt_at,
            CAST(NULL AS timestamptz) AS connected_at, CAST('{{}}' AS text[]) AS contacted_from,
            CAST(:booked_at AS timestamptz) AS booked_at, CAST(:booked_from AS text[]) AS booked_from,
            CAST(:booked_reason AS text) AS booked_reason, CAST(:changed_by AS text) AS changed_by
    ),
    {_outcome_ctes("SELECT * FROM contacts WHERE contacts.id = changed.contact_id")}
    SELECT count(*) FROM recorded
    """)
    ).bindparams(*_BOOKING_PARAMS)
)


async def write_call_outcome(
    tx: Transaction,
    *,
    tenant_id: UUID,
    call_payload: dict[str, Any] | None,
    lead_id: UUID | None,
    booking: Booking | None,
) -> None:
    """Record CALL_UPDATED (when `call_payload` is given), book lead `lead_id` (when `booking` is),
    and record LEAD_UPDATED when that changed it: one statement."""
    if call_payload is None and (booking is None or lead_id is None):
        return
    await tx.fetchrow(
        _CALL_OUTCOME,
        {
            "tenant_id": tenant_id,
            "call_payload": json.dumps(call_payload, separators=(",", ":")) if call_payload else None,
            "lead_id": lead_id if booking else None,
            **_booking_values(booking),
        },
    )
    tx.recorded_in_sql(tenant_id)


# The lead's contact as this statement leaves it: `ensured` when the statement just wrote it (a data-
# modifying CTE's rows are not visible to the statement's other reads), else the stored row. Both by
# primary key, never a scan.
_CONTACT_AS_WRITTEN = """
    SELECT * FROM ensured WHERE ensured.id = changed.contact_id
    UNION ALL
    SELECT * FROM contacts
    WHERE contacts.id = changed.contact_id AND NOT EXISTS (SELECT 1 FROM ensured WHERE ensured.id = changed.contact_id)
"""

# The call's lead: its contact's latest lead created at or before the call started.
_LEAD_OF_CALL = read_sql("call_lead_of_call")


def _typed(name: str) -> str:
    """A parameter cast to its calls column's type (an INSERT ... SELECT does not infer it)."""
    kind = Call.__table__.c[name].type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return f"CAST(:{name} AS {kind})"


# For `apply_first_event`: the call's row, made with its projection, unless it exists already.
_INSERT_CALL = fill_fragments(
    read_sql("call_insert_row"),
    {
        "projected_columns": ", ".join(PROJECTED_COLUMNS),
        "projected_values": ", ".join(_typed(name) for name in PROJECTED_COLUMNS),
        "lead_of_call": _LEAD_OF_CALL,
    },
)


def _update_row_sql(*, known: bool) -> str:
    return fill_fragments(
        read_sql("call_update_row"),
        {
            "projected_sets": ", ".join(f"{name} = :{name}" for name in PROJECTED_COLUMNS),
            "lead_of_call": _LEAD_OF_CALL,
            "count_event": ", event_count = calls.event_count + 1" if known else "",
            "known_version": " AND xmin::text = CAST(:row_version AS text) AND EXISTS (SELECT 1 FROM tenant)"
            if known
            else "",
        },
    )


# The driver keeps a statement prepared (parsed and planned once per connection) only up to this
# many characters (asyncpg's `max_cacheable_statement_size`, 15 KiB); a longer one is parsed and
# planned again on every execution, which for these statements costs more than running them.
DRIVER_CACHEABLE_CHARS = 15 * 1024


def _update_call_sql(*, known: bool = False, new: bool = False) -> str:
    """`persistence/sql/call_update.sql` as `_UPDATE_CALL`; with `known` as `_APPLY_KNOWN_EVENT`, with
    `new` as `_APPLY_FIRST_EVENT` (the file says what each variant adds). Written out in full, comments
    kept: `compact` makes the driver's text."""
    store = known or new
    return fill_fragments(
        read_sql("call_update"),
        {
            "tenant_current": _TENANT_CURRENT + "," if store else "",
            "write_call": _INSERT_CALL if new else _update_row_sql(known=known),
            "store_event": read_sql("call_store_event") if store else "",
            "call_snapshot": call_snapshot_sql("u"),
            "outcome": _outcome_ctes(_CONTACT_AS_WRITTEN),
            "result": fill_fragments(read_sql("call_applied_or_abort"), {"lost_race": LOST_RACE})
            if store
            else "SELECT updated.* FROM updated",
        },
    )


_UPDATE_PARAMS = (
    bindparam("before_started_at", type_=DateTime(timezone=True)),
    bindparam("before_connected_at", type_=DateTime(timezone=True)),
    *_BOOKING_PARAMS,
)
_UPDATE_CALL = DriverStatement(text(compact(_update_call_sql())).bindparams(*_UPDATE_PARAMS))


def _update_params(
    call: CallRow | None,
    columns: dict[str, object],
    contact: CallContact,
    disposition: Disposition | None,
    kind: str,
    booking: Booking | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {name: columns[name] for name in PROJECTED_COLUMNS}
    params.update(
        id=call.id if call else None,
        contact_id=contact.contact_id,
        contact_phone=contact.phone_e164,
        contact_name=contact.name,
        disposition=disposition.value if disposition else None,
        disposition_raw=disposition.raw if disposition else None,
        booked=disposition.booked if disposition else None,
        kind=kind,
        contacted_from=_CONTACTED_FROM,
        before_lead_id=call.lead_id if call else None,
        before_direction=CallDirection(call.direction).value if call else None,
        before_started_at=call.started_at if call else None,
        before_connected_at=call.connected_at if call else None,
        **_booking_values(booking),
    )
    return params


@dataclass(frozen=True)
class WrittenCall:
    """A call row as a write left it, and its version (the row's xmin, for `apply_known_event`)."""

    call: CallRow
    row_version: str


async def update_call(
    tx: Transaction,
    *,
    call: CallRow,
    columns: dict[str, object],
    contact: CallContact,
    disposition: Disposition | None,
    kind: str,
    booking: Booking | None,
) -> WrittenCall:
    """Write a call's new projection, contact and (when given) disposition, (re)link its lead, apply
    what that changes for the lead and `booking` (of whichever lead the call now has), and record the
    events; the row as written.

    `call` is the row as it was (locked by the caller)."""
    params = _update_params(call, columns, contact, disposition, kind, booking)
    row = await tx.fetchrow(_UPDATE_CALL, {**params, "tenant_id": call.tenant_id})
    assert row is not None  # the caller holds the call's lock
    tx.recorded_in_sql(call.tenant_id)
    return WrittenCall(call=_call(row), row_version=row["row_version"])


_APPLY_KNOWN_EVENT = DriverStatement(
    text(compact(_update_call_sql(known=True))).bindparams(*_UPDATE_PARAMS, bindparam("raw", type_=JSONB))
)
_APPLY_FIRST_EVENT = DriverStatement(
    text(compact(_update_call_sql(new=True))).bindparams(*_UPDATE_PARAMS, bindparam("raw", type_=JSONB))
)


async def apply_known_event(
    work: Statements,
    *,
    tenant: EventTenant,
    facts: CallEventFacts,
    raw: dict[str, Any],
    lock_scope: str,
    before: WrittenCall | None,
    columns: dict[str, object],
    contact: CallContact,
    disposition: Disposition | None,
    kind: str,
    booking: Booking | None,
) -> WrittenCall | None:
    """`store_event_and_lock_call` then `update_call` in one autocommit statement (one round trip, one
    new row version), for a caller that knows the call's events and its row as `before` (the new
    projection was made from them), or, with `before` None, that takes the event for its call's first.
    None, having written nothing, when the row is no longer `before` (another event or writer came
    first) or exists already, the tenant changed, or the event is stored already: the caller then
    takes the locking path."""
    if before is None:
        # As the locking path's first statement leaves a new call's row: nothing known but its direction.
        statement = _APPLY_FIRST_EVENT
        params = _update_params(None, columns, contact, disposition, kind, booking)
        params.update(before_direction=facts.direction.value)
    else:
        statement = _APPLY_KNOWN_EVENT
        params = _update_params(before.call, columns, contact, disposition, kind, booking)
        params.update(row_version=before.row_version)
    params.update(
        tenant_id=tenant.id,
        slug=tenant.slug,
        timezone=tenant.timezone,
        secret=tenant.dialpad_webhook_secret,
        settings=tenant.settings_json,
        lock_scope=lock_scope,
        call_id=facts.call_id,
        state=facts.state,
        event_ms=facts.event_ms,
        format=facts.format,
        raw=raw,
    )
    try:
        row = await work.fetchrow(statement, params)
    except Exception as error:
        if sqlstate(error) == LOST_RACE:
            return None
        raise
    assert row is not None
    # The statement inserted the call's and its leads' event rows.
    work.recorded_in_sql(tenant.id)
    return WrittenCall(call=_call(row), row_version=row["row_version"])


# The other legs of a customer call, locked, with their stored events: every row of the caller's
# customer call (`own_key`) and of the customer call of each leg it names (`links`), found by key
# (ix_calls_customer_call) since every writer keeps the key of all its legs. Rows of named legs that
# have no events yet are placeholders (see `write_legs`).
_CUSTOMER_CALL_LEGS = DriverStatement(
    text(
        """
    WITH keys AS (
        SELECT CAST(:own_key AS text) AS k
        UNION
        SELECT customer_call_key FROM calls WHERE tenant_id = :tenant_id AND external_id = ANY(:links)
    ),
    -- Two index lookups, not one scan: an OR of the two conditions was planned as a scan of every
    -- call of the tenant. OFFSET 0 keeps the lookup per key: without fresh statistics the planner
    -- flattened it into a hash join over every call of the tenant.
    found AS (
        SELECT leg.id FROM keys CROSS JOIN LATERAL (
            SELECT c.id FROM calls AS c WHERE c.tenant_id = :tenant_id AND c.customer_call_key = keys.k
            OFFSET 0
        ) AS leg
        UNION
        SELECT c.id FROM calls AS c WHERE c.tenant_id = :tenant_id AND c.external_id = ANY(:links)
    )
    SELECT calls.*, CASE WHEN known.event_count IS DISTINCT FROM calls.event_count THEN (
        SELECT coalesce(jsonb_agg(e.raw ORDER BY e.event_timestamp_ms, e.state), '[]') FROM call_events AS e
        WHERE e.tenant_id = calls.tenant_id AND e.call_external_id = calls.external_id
    ) END AS history
    FROM calls
    LEFT JOIN unnest(CAST(:known_ids AS uuid[]), CAST(:known_counts AS integer[])) AS known(id, event_count)
        ON known.id = calls.id
    WHERE calls.id IN (SELECT id FROM found) AND calls.external_id <> :call_id
    ORDER BY calls.external_id
    FOR NO KEY UPDATE OF calls
    """
    )
)


async def customer_call_legs(
    tx: Transaction,
    *,
    tenant_id: UUID,
    call_id: str,
    own_key: str,
    links: Sequence[str],
    known: Sequence[KnownEvents] = (),
) -> list[LockedCall]:
    """The other legs of call `call_id`'s customer call (and of those of the legs it names), locked;
    a leg's `history` is None when it is as `known` says (its events are the caller's)."""
    values = {
        "tenant_id": tenant_id,
        "call_id": call_id,
        "own_key": own_key,
        "links": list(links),
        "known_ids": [leg.call_id for leg in known],
        "known_counts": [leg.event_count for leg in known],
    }
    for _ in range(2):
        found = [_locked(row) for row in await tx.fetch(_CUSTOMER_CALL_LEGS, values)]
        # The events come from the statement's snapshot, the rows (locked) as they are now: a leg whose
        # event committed in between (it has another customer lock: an event without a number) is
        # read again, now that its row is locked here.
        if all(leg.history is None or len(leg.history) == leg.event_count for leg in found):
            break
    return found


def _locked(row: Mapping[str, Any]) -> LockedCall:
    history = row["history"]
    return LockedCall(
        call=_call(row),
        history=None if history is None else json_value(history),
        event_count=row["event_count"],
        row_version=row.get("row_version"),
    )


# Legs other than the primary: each row's own leg record (or, for a named leg without events yet, a
# placeholder that only says which customer call it belongs to), with the contact and lead of the
# customer call's primary row (written before, in the same transaction). A statement of its own:
# as a CTE of `_UPDATE_CALL` (one round trip less for a leg's event) it cost every event, single
# legs included, about 3 ms of PostgreSQL CPU (measured with bench/call_events.py: 555 -> 270/s).
_WRITE_LEGS = DriverStatement(
    text(
        f"""
    WITH primary_row AS (
        SELECT contact_id, lead_id FROM calls WHERE tenant_id = :tenant_id AND external_id = :primary
    )
    {_legs_upsert("primary_row")}
    """
    )
)


def _json_column(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def write_legs(
    tx: Transaction, *, tenant_id: UUID, primary: str, legs: Sequence[dict[str, object]]
) -> None:
    """Write leg rows (each a full set of `LEG_COLUMNS` values plus `external_id`), creating the
    missing ones, with the contact and lead of the customer call's primary row."""
    if not legs:
        return
    await tx.fetch(_WRITE_LEGS, {"tenant_id": tenant_id, "primary": primary, "legs": _legs_json(legs)})


def _legs_json(legs: Sequence[dict[str, object]]) -> str:
    payload = [{name: _json_column(value) for name, value in leg.items()} for leg in legs]
    return json.dumps(payload, separators=(",", ":"))


def leg_differs(call: CallRow, columns: Mapping[str, object]) -> bool:
    """True when writing a leg's `columns` would change its row."""
    return any(getattr(call, name) != columns[name] for name in LEG_COLUMNS)


if __name__ == "__main__":
    # Every variant of the call statement as sent (before compaction), to read or to run with psql.
    for name, variant in (
        ("_UPDATE_CALL", {}),
        ("_APPLY_KNOWN_EVENT", {"known": True}),
        ("_APPLY_FIRST_EVENT", {"new": True}),
    ):
        sys.stdout.write(f"-- {name}\n{_update_call_sql(**variant)};\n\n")
