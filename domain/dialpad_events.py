"""Dialpad call events: reading both event formats into one set of facts (services/dialpad_event_body.py
verifies the signed body).

Two formats arrive. Dialpad's real one (`state`, numeric `call_id`, times and durations in ms)
and the seed's simplified one (`event_type`, times and durations in seconds, outbound unless a
`direction` says otherwise: `from_number` is then the Dialpad line and `to_number` the lead).
They are told apart by `state` versus `event_type`, and both become a `CallEventFacts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.calls import CallDirection
from domain.dispositions import dispositions_in
from domain.errors import BadInput
from domain.storable import LATEST_MS, storable_ms, storable_time, unstorable

END_STATES = frozenset({"hangup", "missed", "voicemail", "voicemail_uploaded"})
VOICEMAIL_STATES = frozenset({"voicemail", "voicemail_uploaded"})
DISPOSITION_STATE = "dispositions"

# The seed's event_type values as Dialpad state names.
_SEED_STATES = {
    "answered": "connected",
    "ended": "hangup",
    "completed": "hangup",
    "disposition": "dispositions",
}

# Below this a timestamp is in seconds (1e11 ms is 1973; 1e11 s is the year 5138).
_SECONDS_LIMIT = 100_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# Far deeper than any Dialpad event; bounds the work of checking one.
MAX_EVENT_DEPTH = 32
# calls.duration_seconds is numeric(12, 3).
_MAX_DURATION_SECONDS = 999_999_999
# Dialpad's call ids are int64 (19 digits) and its states short words; both are in btree indexes,
# whose rows PostgreSQL caps at ~2.7 KB, so a longer value is refused before it reaches one.
MAX_KEY_LENGTH = 64


class MalformedEvent(BadInput):
    """The body is not a JWT (or JSON) event CallTrax can read; Dialpad must not retry it."""

    http_status = 400


@dataclass(frozen=True)
class CallEventFacts:
    """What one event says about its call leg; times are ms since the epoch, durations seconds."""

    call_id: str
    state: str
    event_ms: int
    format: str  # "dialpad" or "seed"
    direction: CallDirection
    external_number: str | None = None
    internal_number: str | None = None
    started_ms: int | None = None
    rang_ms: int | None = None
    connected_ms: int | None = None
    ended_ms: int | None = None
    duration_seconds: float | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    agent_email: str | None = None
    contact_name: str | None = None
    master_call_id: str | None = None
    entry_point_call_id: str | None = None
    operator_call_id: str | None = None
    recording_url: str | None = None
    voicemail_url: str | None = None
    dispositions: tuple[str, ...] = ()
    # False when the event carried no `direction` (`direction` is then the format's default).
    has_direction: bool = True
    # The leg's `target.type` (`user` for an agent's leg, `callcenter`, `department`, ...).
    target_type: str | None = None
    # Seconds of real conversation (`talk_time`), when the event says.
    talk_seconds: float | None = None

    @property
    def links(self) -> tuple[str, ...]:
        """The other legs this event names (master, entry point, operator)."""
        return tuple(
            link
            for link in (self.master_call_id, self.entry_point_call_id, self.operator_call_id)
            if link is not None and link != self.call_id
        )

    @property
    def dedupe_key(self) -> tuple[str, str, int]:
        """Dialpad sends no event id: (call_id, state, event_timestamp) identifies a delivery."""
        return (self.call_id, self.state, self.event_ms)

    @property
    def is_end(self) -> bool:
        return self.state in END_STATES


# --- the body -------------------------------------------------------------------------------------


def storable_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims, refused when PostgreSQL could not store them (NUL, lone surrogates, deep nesting)."""
    reason = unstorable(claims, max_depth=MAX_EVENT_DEPTH)
    if reason:
        raise MalformedEvent(f"the event {reason}")
    return claims


# --- the claims -----------------------------------------------------------------------------------


def _ms(value: Any) -> int | None:
    """A timestamp as ms since the epoch: numbers in ms or seconds, numeric strings, ISO 8601.

    None (unknown) when absent or unreadable, and when it is no time CallTrax stores
    (`domain.storable`: not shown in every timezone, e.g. the last day of year 9999). Numbers must
    also be positive: Dialpad's 0 means "not yet"."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return _iso_ms(value)
    if not isinstance(value, (int, float)) or not 0 < value <= LATEST_MS:  # NaN and inf fail too
        return None
    return int(value * 1000) if value < _SECONDS_LIMIT else int(value)


def _iso_ms(value: str) -> int | None:
    """An ISO 8601 time (UTC when it has no offset) as ms since the epoch, or None (see `_ms`)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Year 1 east of UTC, or year 9999 west of it, is outside datetime's range in UTC.
        utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (utc - _EPOCH) // _ONE_MS if storable_time(utc) else None


def _capped(ms: int) -> int | None:
    """A time worked out from others (an end from start + duration): None unless storable."""
    return ms if storable_ms(ms) else None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _duration(value: float | None, *, per_second: int) -> float | None:
    """A duration in `1 / per_second` units, or None when negative, not a number or beyond the column."""
    if value is None or not 0 <= value <= _MAX_DURATION_SECONDS * per_second:
        return None
    return value


def _text(value: Any) -> str | None:
    """Text from a string or a number; None for anything else (an object, a list or a boolean where a
    number or a name belongs is unreadable, so unknown, never Python's text of it)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text or None


def _id(value: Any) -> str | None:
    """An id as text: Dialpad sends int64 as JSON numbers in events and strings in REST."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _text(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _direction(value: Any, default: CallDirection) -> CallDirection:
    text = str(value or "").strip().lower()
    return CallDirection(text) if text in ("inbound", "outbound") else default


def _has_direction(claims: Mapping[str, Any]) -> bool:
    return str(claims.get("direction") or "").strip().lower() in ("inbound", "outbound")


def _recordings(details: Any) -> tuple[str | None, str | None]:
    """The latest call recording url and voicemail url from `recording_details`."""
    recording: tuple[int, str] | None = None
    voicemail: tuple[int, str] | None = None
    if isinstance(details, list):
        for item in details:
            if not isinstance(item, Mapping) or not _text(item.get("url")):
                continue
            entry = (_ms(item.get("start_time")) or 0, str(item["url"]).strip())
            if str(item.get("recording_type") or "").lower() == "voicemail":
                voicemail = max(voicemail, entry) if voicemail else entry
            else:
                recording = max(recording, entry) if recording else entry
    return (recording[1] if recording else None, voicemail[1] if voicemail else None)


def parse_call_event(claims: Mapping[str, Any]) -> CallEventFacts:
    """Read either format; MalformedEvent when the call id or the state is missing."""
    if "state" not in claims and "event_type" in claims:
        return _parse_seed(claims)
    return _parse_dialpad(claims)


def _required(claims: Mapping[str, Any], key: str) -> str:
    value = _key(claims, key)
    if value is None:
        raise MalformedEvent(f"the event has no {key}", fields={key: "required"})
    return value


def _key(claims: Mapping[str, Any], key: str, *, name: str | None = None) -> str | None:
    """An id that keys rows or index entries (a call id, a linked leg's id, the state, the agent's id):
    a string or an integer of at most MAX_KEY_LENGTH characters, since each is indexed (a linked id
    becomes a leg row and a customer-call key; the agent's id is in the metrics indexes). `name` is
    the field as the sender knows it (`target.id`)."""
    name = name or key
    raw = claims.get(key)
    if isinstance(raw, bool) or (raw is not None and not isinstance(raw, (str, int, float))):
        raise MalformedEvent(
            f"the event's {name} must be a string or an integer", fields={name: "a string or an integer"}
        )
    if isinstance(raw, float) and not raw.is_integer():
        raise MalformedEvent(
            f"the event's {name} must be a string or an integer", fields={name: "a string or an integer"}
        )
    value = _id(raw)
    if value is not None and len(value) > MAX_KEY_LENGTH:
        problem = f"at most {MAX_KEY_LENGTH} characters"
        raise MalformedEvent(
            f"the event's {name} is over {MAX_KEY_LENGTH} characters", fields={name: problem}
        )
    return value


def _parse_dialpad(claims: Mapping[str, Any]) -> CallEventFacts:
    call_id = _required(claims, "call_id")
    state = _required(claims, "state").lower()
    started = _ms(claims.get("date_started"))
    connected = _ms(claims.get("date_connected"))
    ended = _ms(claims.get("date_ended"))
    event_ms = _ms(claims.get("event_timestamp")) or ended or connected or started or 0
    # A `connected` event without `date_connected` is an IVR, menu or queue pick-up, not an answer.
    if ended is None and state in END_STATES:
        ended = event_ms
    target = _mapping(claims.get("target"))
    target_type = _text(target.get("type"))
    agent = target if (target_type or "").lower() == "user" else {}
    talk_ms = _duration(_number(claims.get("talk_time")), per_second=1000)
    contact = _mapping(claims.get("contact"))
    duration_ms = _duration(_number(claims.get("duration")), per_second=1000)
    recording, voicemail = _recordings(claims.get("recording_details"))
    return CallEventFacts(
        call_id=call_id,
        state=state,
        event_ms=event_ms,
        format="dialpad",
        direction=_direction(claims.get("direction"), CallDirection.INBOUND),
        has_direction=_has_direction(claims),
        external_number=_text(claims.get("external_number")),
        internal_number=_text(claims.get("internal_number")),
        started_ms=started,
        rang_ms=_ms(claims.get("date_rang")) or _ms(claims.get("date_first_rang")),
        connected_ms=connected,
        ended_ms=ended,
        duration_seconds=duration_ms / 1000 if duration_ms is not None else None,
        agent_id=_key(agent, "id", name="target.id"),
        agent_name=_text(agent.get("name")),
        agent_email=_text(agent.get("email")),
        contact_name=_text(contact.get("name")),
        master_call_id=_key(claims, "master_call_id"),
        entry_point_call_id=_key(claims, "entry_point_call_id"),
        operator_call_id=_key(claims, "operator_call_id"),
        recording_url=recording or _text(claims.get("recording_url")),
        voicemail_url=_text(claims.get("voicemail_link")) or voicemail,
        dispositions=dispositions_in(claims) if state == DISPOSITION_STATE else (),
        target_type=target_type.lower() if target_type else None,
        talk_seconds=talk_ms / 1000 if talk_ms is not None else None,
    )


def _parse_seed(claims: Mapping[str, Any]) -> CallEventFacts:
    call_id = _required(claims, "call_id")
    kind = _required(claims, "event_type").lower()
    state = _SEED_STATES.get(kind, kind)
    direction = _direction(claims.get("direction"), CallDirection.OUTBOUND)
    started = _ms(claims.get("start_time"))
    duration = _duration(_number(claims.get("duration")), per_second=1)
    ended = _ms(claims.get("end_time"))
    if ended is None and state in END_STATES and started is not None:
        ended = _capped(started + int((duration or 0) * 1000))
    stamp = next(
        (
            _ms(claims.get(key))
            for key in ("event_timestamp", "timestamp", "event_time")
            if _ms(claims.get(key)) is not None
        ),
        None,
    )
    event_ms = stamp or (ended if state in END_STATES else None) or started or 0
    connected = _ms(claims.get("connect_time")) or _ms(claims.get("connected_time"))
    if connected is None and state == "connected":
        connected = event_ms
    if connected is None and state in END_STATES and duration and ended is not None:
        # A seed hangup with talk time says the call was answered, `duration` seconds before it ended.
        connected = _capped(ended - int(duration * 1000))
    if ended is None and state in END_STATES:
        ended = event_ms
    from_number, to_number = _text(claims.get("from_number")), _text(claims.get("to_number"))
    if direction is CallDirection.OUTBOUND:
        internal, external = from_number, to_number
    else:
        external, internal = from_number, to_number
    return CallEventFacts(
        call_id=call_id,
        state=state,
        event_ms=event_ms,
        format="seed",
        direction=direction,
        has_direction=_has_direction(claims),
        external_number=external,
        internal_number=internal,
        started_ms=started,
        connected_ms=connected,
        ended_ms=ended,
        duration_seconds=duration,
        agent_id=_key(claims, "user_id"),
        agent_name=_text(claims.get("user_name")),
        agent_email=_text(claims.get("user_email")),
        contact_name=_text(claims.get("contact_name")) or _text(claims.get("name")),
        master_call_id=_key(claims, "master_call_id"),
        entry_point_call_id=_key(claims, "entry_point_call_id"),
        operator_call_id=_key(claims, "operator_call_id"),
        recording_url=_text(claims.get("recording_url")),
        voicemail_url=_text(claims.get("voicemail_url")) or _text(claims.get("voicemail_link")),
        dispositions=dispositions_in(claims) if state == DISPOSITION_STATE else (),
        # The seed format describes the agent's own call: whoever answered it is a person.
        target_type="user",
    )
