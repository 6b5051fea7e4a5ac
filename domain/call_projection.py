"""Folding all the events of one call leg into its call record: the same result in any arrival order.

The fold sorts the facts by (event timestamp, state), a total order over stored events since
(call, state, timestamp) is their unique key, so arrival order never matters:
- times: `started_at`, `rang_at`, `connected_at` are the earliest known value, `ended_at` the
  latest; a known time is never replaced by null (nulls are simply not facts);
- descriptive fields (numbers, agent, legs, recording, voicemail link): the last known value;
- duration: the longest reported (early events report 0 before the talk time is known);
- status from facts, never from the last event: voicemail (without a connect) -> VOICEMAIL;
  connected and ended -> COMPLETED; ended without connecting -> MISSED (inbound) or NO_ANSWER
  (outbound); connected -> CONNECTED; else RINGING. A late `ringing` after a `hangup` adds no
  fact, so it changes nothing.

Legs. Dialpad gives each leg of a customer call its own `call_id`; the other legs point at the
first one through `entry_point_call_id` (call-center routing) or `master_call_id` (transfers).
`customer_call_key` is that root id (`entry_point_call_id`, else `master_call_id`, else the
leg's own id), so all legs of one customer call share it, and `is_primary_leg` is true only
for the root leg itself (`call_id == customer_call_key`). Metrics count primary legs, so a
customer call counts once whichever legs arrive and in whatever order, with no cross-row
updates. The root leg is the customer's own call (its target is the call center the webhook
subscribes to), so it is the leg Dialpad always reports; a call whose root leg never arrives is
not counted, which we prefer to counting one call twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from domain.calls import CallDirection, CallStatus
from domain.dialpad_events import DISPOSITION_STATE, VOICEMAIL_STATES, CallEventFacts
from domain.phones import normalize_phone


@dataclass(frozen=True)
class CallProjection:
    """The calls-row columns that events decide (contact, lead and disposition are decided elsewhere)."""

    external_id: str
    direction: CallDirection
    status: CallStatus
    from_number: str | None
    to_number: str | None
    external_number: str | None
    internal_number: str | None
    agent_id: str | None
    agent_name: str | None
    agent_email: str | None
    master_call_id: str | None
    entry_point_call_id: str | None
    customer_call_key: str
    is_primary_leg: bool
    started_at: datetime | None
    rang_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: Decimal | None
    recording_url: str | None
    voicemail_url: str | None
    voicemail: bool
    last_event_at: datetime
    # The newest `dispositions` event: its timestamp and raw dispositions (None when there is none).
    disposition_event_ms: int | None
    dispositions: tuple[str, ...]
    # The customer's name as Dialpad knows it, for a contact CallTrax creates from the call.
    contact_name: str | None = None

    def columns(self) -> dict[str, object]:
        """The projection as calls-table column values."""
        values: dict[str, object] = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("disposition_event_ms", "dispositions", "contact_name")
        }
        values["direction"] = self.direction.value
        values["status"] = self.status.value
        return values


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None


def _e164(number: str | None, region: str | None) -> str | None:
    phone = normalize_phone(number, region)
    if phone is None:
        return None
    return phone.e164 or phone.raw


def _min(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return min(known) if known else None


def _max(values: Iterable[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _last(values: Iterable[str | None]) -> str | None:
    found = None
    for value in values:
        if value is not None:
            found = value
    return found


def call_status(*, direction: CallDirection, connected: bool, ended: bool, voicemail: bool) -> CallStatus:
    """A leg's status from what is known about it (see the module docstring)."""
    if voicemail and not connected:
        return CallStatus.VOICEMAIL
    if ended:
        if connected:
            return CallStatus.COMPLETED
        return CallStatus.MISSED if direction is CallDirection.INBOUND else CallStatus.NO_ANSWER
    return CallStatus.CONNECTED if connected else CallStatus.RINGING


def project_call(facts: Iterable[CallEventFacts], *, region: str | None = None) -> CallProjection:
    """Fold every event of one call leg into its record; `region` reads national numbers."""
    ordered = sorted(facts, key=lambda fact: (fact.event_ms, fact.state))
    if not ordered:
        raise ValueError("a call needs at least one event")
    call_id = ordered[0].call_id
    direction = ordered[-1].direction
    external = _e164(_last(fact.external_number for fact in ordered), region)
    internal = _e164(_last(fact.internal_number for fact in ordered), region)
    # Else the first event's time; an event time of 0 is "no time known" (not 1970), so unknown.
    started = _min(fact.started_ms for fact in ordered) or _min(fact.event_ms or None for fact in ordered)
    connected = _min(fact.connected_ms for fact in ordered)
    ended = _max(fact.ended_ms for fact in ordered)
    voicemail_url = _last(fact.voicemail_url for fact in ordered)
    voicemail = voicemail_url is not None or any(fact.state in VOICEMAIL_STATES for fact in ordered)
    durations = [fact.duration_seconds for fact in ordered if fact.duration_seconds is not None]
    entry_point = _last(fact.entry_point_call_id for fact in ordered)
    master = _last(fact.master_call_id for fact in ordered)
    key = entry_point or master or call_id
    disposition_events = [fact for fact in ordered if fact.state == DISPOSITION_STATE]
    latest_disposition = disposition_events[-1] if disposition_events else None
    outbound = direction is CallDirection.OUTBOUND
    return CallProjection(
        external_id=call_id,
        direction=direction,
        status=call_status(
            direction=direction,
            connected=connected is not None,
            ended=ended is not None or any(fact.is_end for fact in ordered),
            voicemail=voicemail,
        ),
        from_number=internal if outbound else external,
        to_number=external if outbound else internal,
        external_number=external,
        internal_number=internal,
        agent_id=_last(fact.agent_id for fact in ordered),
        agent_name=_last(fact.agent_name for fact in ordered),
        agent_email=_last(fact.agent_email for fact in ordered),
        master_call_id=master,
        entry_point_call_id=entry_point,
        customer_call_key=key,
        is_primary_leg=key == call_id,
        started_at=_time(started),
        rang_at=_time(_min(fact.rang_ms for fact in ordered)),
        connected_at=_time(connected),
        ended_at=_time(ended),
        duration_seconds=Decimal(str(round(max(durations), 3))) if durations else None,
        recording_url=_last(fact.recording_url for fact in ordered),
        voicemail_url=voicemail_url,
        voicemail=voicemail,
        last_event_at=datetime.fromtimestamp(ordered[-1].event_ms / 1000, tz=UTC),
        disposition_event_ms=latest_disposition.event_ms if latest_disposition else None,
        dispositions=latest_disposition.dispositions if latest_disposition else (),
        contact_name=_last(fact.contact_name for fact in ordered),
    )
