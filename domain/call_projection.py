"""Folding the events of a customer call's legs into call records: the same result in any arrival order.

Legs. Dialpad gives each leg of one customer call (one conversation with one person) its own
`call_id`: the department or call-center leg the customer reached, the agent's (operator) leg, a
transferred-to agent's leg. Legs name each other through `master_call_id`, `entry_point_call_id`
and `operator_call_id`, in either direction, and any of them may arrive first or never. Every leg
linked to another belongs to its customer call (grouping is persistence's job: it finds the legs).
The customer call's record is kept on one leg row, the primary leg (the lowest call id of the legs
that have events, so the same whatever arrived first); `customer_call_key` is that id on every leg.
Other leg rows keep their own leg's record. Metrics, lists, the trend and the CSV read primary rows.

The fold sorts all events by (event timestamp, state, call id), a total order over stored events,
so arrival order never matters:
- times: `started_at`, `rang_at` are the earliest known value, `ended_at` the latest (once every leg
  has ended); a known value is never replaced by null;
- descriptive fields (numbers, recording, voicemail link): the last known value; duration the
  longest reported;
- direction: from the first event that carries one; an event without `direction` never changes it;
- connected means a person talked. A leg is answered when `date_connected` is set and a person is on
  it: an agent's leg (`target.type` user, or an operator leg: `entry_point_call_id` set), or
  `talk_time` > 0. An IVR, menu or queue pick-up (`connected` without `date_connected`, or a call
  center's leg with no talk) is not. A leg whose post-call events report `talk_time` 0 was not
  answered. An outbound call whose newest disposition says voicemail (`VOICEMAIL_DISPOSITION_WORDS`)
  did not connect: a machine took it. `connected_at` is when a person first answered any leg;
- agent: the user of the answered leg answered last (the agent after a transfer), else the last
  known user of any leg (the agent who dialled an unanswered outbound call);
- disposition: the newest `dispositions` event of any leg;
- status from facts, never from the last event: connected -> CONNECTED, then COMPLETED once every
  leg ended; not connected: a voicemail -> VOICEMAIL; ended outbound -> NO_ANSWER; ended inbound
  -> MISSED when it rang an agent (a `missed` event or an agent's leg), else ABANDONED (it reached
  only an IVR, a menu or a queue); otherwise RINGING.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from domain.calls import CallDirection, CallStatus
from domain.dialpad_events import DISPOSITION_STATE, END_STATES, VOICEMAIL_STATES, CallEventFacts
from domain.phones import normalize_phone

# An outbound call whose newest disposition contains one of these (case-insensitive) reached a
# machine, not a person: it is not a connect.
VOICEMAIL_DISPOSITION_WORDS = ("voicemail", "voice mail", "left message", "answering machine")
# Events after the conversation: their `talk_time` is the call's final one.
_POST_CALL_STATES = END_STATES | {DISPOSITION_STATE, "recording", "call_transcription", "transcription"}


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
    operator_call_id: str | None
    customer_call_key: str
    is_primary_leg: bool
    # True when the leg belongs to a customer call of several legs.
    linked: bool
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

    def as_leg_of(self, key: str) -> CallProjection:
        """This leg's record as a leg of the customer call `key` (primary when it is the key's leg)."""
        return replace(self, customer_call_key=key, is_primary_leg=key == self.external_id, linked=True)


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


def _order(fact: CallEventFacts) -> tuple[int, str, str]:
    return (fact.event_ms, fact.state, fact.call_id)


def primary_leg(leg_ids: Iterable[str]) -> str:
    """The leg that carries its customer call's record: the lowest call id (numerically when numeric)."""
    return min(leg_ids, key=lambda leg: (0, int(leg), leg) if leg.isdigit() else (1, 0, leg))


@dataclass(frozen=True)
class _Leg:
    """What the customer call needs from one leg's events."""

    answered_ms: int | None
    agent: tuple[str | None, str | None, str | None]
    ended: bool
    person: bool


def _leg(events: Sequence[CallEventFacts]) -> _Leg:
    person = any(fact.target_type == "user" or fact.entry_point_call_id for fact in events)
    picked = _min(fact.connected_ms for fact in events)
    talks = [fact.talk_seconds for fact in events if fact.talk_seconds is not None]
    final_talks = [
        fact.talk_seconds
        for fact in events
        if fact.talk_seconds is not None and fact.state in _POST_CALL_STATES
    ]
    talked = bool(talks) and max(talks) > 0
    silent = bool(final_talks) and max(final_talks) == 0
    answered = picked if picked is not None and (person or talked) and not silent else None
    agents = [(f.agent_id, f.agent_name, f.agent_email) for f in events if f.agent_id or f.agent_name]
    return _Leg(
        answered_ms=answered,
        agent=agents[-1] if agents else (None, None, None),
        ended=any(fact.ended_ms is not None or fact.is_end for fact in events),
        person=person,
    )


def call_status(
    *, direction: CallDirection, connected: bool, ended: bool, voicemail: bool, rang_agent: bool = True
) -> CallStatus:
    """A customer call's status from what is known about it (see the module docstring)."""
    if connected:
        return CallStatus.COMPLETED if ended else CallStatus.CONNECTED
    if voicemail:
        return CallStatus.VOICEMAIL
    if ended:
        if direction is CallDirection.OUTBOUND:
            return CallStatus.NO_ANSWER
        return CallStatus.MISSED if rang_agent else CallStatus.ABANDONED
    return CallStatus.RINGING


def _reached_voicemail(dispositions: Sequence[str]) -> bool:
    return any(word in text.lower() for text in dispositions for word in VOICEMAIL_DISPOSITION_WORDS)


def project_call(facts: Iterable[CallEventFacts], *, region: str | None = None) -> CallProjection:
    """Fold every event of one call leg into its record, as if it were its customer call's only leg."""
    events = list(facts)
    if not events:
        raise ValueError("a call needs at least one event")
    call_id = events[0].call_id
    return project_customer_call({call_id: events}, primary=call_id, region=region, linked=False)


def project_customer_call(
    legs: Mapping[str, Sequence[CallEventFacts]],
    *,
    primary: str,
    region: str | None = None,
    linked: bool = True,
) -> CallProjection:
    """Fold every event of every leg of one customer call into its record, kept on leg `primary`;
    `region` reads national numbers."""
    ordered = sorted((fact for events in legs.values() for fact in events), key=_order)
    if not ordered:
        raise ValueError("a call needs at least one event")
    folded = {call_id: _leg(sorted(events, key=_order)) for call_id, events in legs.items() if events}
    own = sorted(legs.get(primary) or ordered, key=_order)
    directed = [fact for fact in ordered if fact.has_direction]
    direction = (directed or ordered)[0].direction
    outbound = direction is CallDirection.OUTBOUND
    external = _e164(_last(fact.external_number for fact in ordered), region)
    internal = _e164(_last(fact.internal_number for fact in ordered), region)
    # Else the first event's time; an event time of 0 is "no time known" (not 1970), so unknown.
    started = _min(fact.started_ms for fact in ordered) or _min(fact.event_ms or None for fact in ordered)
    ended = all(leg.ended for leg in folded.values())
    voicemail_url = _last(fact.voicemail_url for fact in ordered)
    voicemail = voicemail_url is not None or any(fact.state in VOICEMAIL_STATES for fact in ordered)
    durations = [fact.duration_seconds for fact in ordered if fact.duration_seconds is not None]
    disposition_events = [fact for fact in ordered if fact.state == DISPOSITION_STATE]
    latest_disposition = disposition_events[-1] if disposition_events else None
    connected = _min(leg.answered_ms for leg in folded.values())
    if outbound and latest_disposition is not None and _reached_voicemail(latest_disposition.dispositions):
        connected = None
    agent_legs = sorted(
        (leg.answered_ms or 0, call_id, leg.agent)
        for call_id, leg in folded.items()
        if leg.answered_ms is not None and any(leg.agent)
    )
    if agent_legs and connected is not None:
        agent = agent_legs[-1][2]
    else:
        agents = [(f.agent_id, f.agent_name, f.agent_email) for f in ordered if f.agent_id or f.agent_name]
        agent = agents[-1] if agents else (None, None, None)
    rang_agent = any(fact.state == "missed" for fact in ordered) or any(leg.person for leg in folded.values())
    return CallProjection(
        external_id=primary,
        direction=direction,
        status=call_status(
            direction=direction,
            connected=connected is not None,
            ended=ended,
            voicemail=voicemail,
            rang_agent=rang_agent,
        ),
        from_number=internal if outbound else external,
        to_number=external if outbound else internal,
        external_number=external,
        internal_number=internal,
        agent_id=agent[0],
        agent_name=agent[1],
        agent_email=agent[2],
        master_call_id=_last(fact.master_call_id for fact in own),
        entry_point_call_id=_last(fact.entry_point_call_id for fact in own),
        operator_call_id=_last(fact.operator_call_id for fact in own),
        customer_call_key=primary,
        is_primary_leg=True,
        linked=linked,
        started_at=_time(started),
        rang_at=_time(_min(fact.rang_ms for fact in ordered)),
        connected_at=_time(connected),
        ended_at=_time(_max(fact.ended_ms for fact in ordered)) if ended else None,
        duration_seconds=Decimal(str(round(max(durations), 3))) if durations else None,
        recording_url=_last(fact.recording_url for fact in ordered),
        voicemail_url=voicemail_url,
        voicemail=voicemail,
        last_event_at=datetime.fromtimestamp(ordered[-1].event_ms / 1000, tz=UTC),
        disposition_event_ms=latest_disposition.event_ms if latest_disposition else None,
        dispositions=latest_disposition.dispositions if latest_disposition else (),
        contact_name=_last(fact.contact_name for fact in ordered),
    )


def customer_calls(links: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Call ids grouped into customer calls: `links` maps each leg to the legs its events name, and
    legs linked in either direction, directly or through others, are one customer call (named legs
    without events of their own included)."""
    parent: dict[str, str] = {}

    def root(call_id: str) -> str:
        parent.setdefault(call_id, call_id)
        while parent[call_id] != call_id:
            parent[call_id] = parent[parent[call_id]]
            call_id = parent[call_id]
        return call_id

    for call_id, named in links.items():
        for other in named:
            parent[root(other)] = root(call_id)
        root(call_id)
    groups: dict[str, set[str]] = {}
    for call_id in parent:
        groups.setdefault(root(call_id), set()).add(call_id)
    return sorted(groups.values(), key=lambda group: primary_leg(group))
