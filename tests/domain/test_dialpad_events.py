"""Reading Dialpad's real and the seed's simplified event formats, and verifying signed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jwt
import pytest

from domain.calls import CallDirection
from domain.dialpad_events import MalformedEvent, parse_call_event
from domain.errors import Unauthenticated
from services.dialpad_event_body import read_event_body
from tests.dialpad_samples import sample, sign

SECRET = "dialpad-secret"
NOW = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)


def test_real_format_units_and_fields() -> None:
    facts = parse_call_event(sample("outbound-3-hangup"))
    assert facts.format == "dialpad"
    assert facts.call_id == "5308476234735616"
    assert facts.state == "hangup"
    assert facts.dedupe_key == ("5308476234735616", "hangup", 1768492994100)
    assert facts.direction is CallDirection.OUTBOUND
    assert (facts.external_number, facts.internal_number) == ("+61430363930", "+61485986529")
    assert facts.started_ms == 1768492800000
    assert facts.connected_ms == 1768492808420
    assert facts.ended_ms == 1768492993650
    assert facts.duration_seconds == pytest.approx(185.23)
    assert (facts.agent_id, facts.agent_name, facts.agent_email) == (
        "5821975242293248",
        "Ana Agent",
        "ana@example.com",
    )
    assert facts.recording_url == "https://dialpad.com/recordings/5139284756283392"
    assert facts.voicemail_url is None
    assert facts.dispositions == ()


def test_dispositions_event_and_inbound_voicemail() -> None:
    assert parse_call_event(sample("outbound-4-dispositions")).dispositions == ("Sales~Booked",)
    voicemail = parse_call_event(sample("inbound-2-voicemail_uploaded"))
    assert voicemail.direction is CallDirection.INBOUND
    # The target is the call center, not a user: no agent.
    assert voicemail.agent_id is None
    assert voicemail.voicemail_url == "https://dialpad.com/voicemail/6592322884239360"
    assert voicemail.recording_url is None


def test_state_implies_times_the_event_omits() -> None:
    # A `connected` event without date_connected is an IVR, menu or queue pick-up: no connect time.
    event = sample("outbound-2-connected") | {"date_connected": None}
    assert parse_call_event(event).connected_ms is None
    missed = sample("inbound-1-missed") | {"date_ended": None}
    assert parse_call_event(missed).ended_ms == missed["event_timestamp"]


def test_missing_call_id_or_state_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        parse_call_event({"state": "hangup"})
    with pytest.raises(MalformedEvent):
        parse_call_event({"call_id": 1})


def test_seed_format_is_outbound_in_seconds() -> None:
    ringing = parse_call_event(
        {
            "event_type": "ringing",
            "call_id": "dialpad_123456",
            "call_center_id": "cc1",
            "from_number": "+61485986529",
            "to_number": "+61430363930",
            "user_id": "agent-7",
            "start_time": 1768492800,
        }
    )
    assert ringing.format == "seed"
    assert ringing.direction is CallDirection.OUTBOUND
    assert (ringing.internal_number, ringing.external_number) == ("+61485986529", "+61430363930")
    assert ringing.started_ms == 1768492800000
    assert ringing.event_ms == 1768492800000
    assert ringing.agent_id == "agent-7"
    hangup = parse_call_event(
        {"event_type": "hangup", "call_id": "dialpad_123456", "start_time": 1768492800, "duration": 120}
    )
    assert hangup.duration_seconds == 120
    # Talk time means it was answered; ended is start + duration.
    assert hangup.ended_ms == 1768492920000
    assert hangup.connected_ms == 1768492800000
    inbound = parse_call_event(
        {
            "event_type": "ringing",
            "call_id": "x",
            "direction": "inbound",
            "from_number": "+61430363930",
            "to_number": "+61485986529",
            "start_time": 1768492800,
        }
    )
    assert inbound.direction is CallDirection.INBOUND
    assert inbound.external_number == "+61430363930"
    disposition = parse_call_event(
        {"event_type": "dispositions", "call_id": "x", "start_time": 1768492800, "disposition": "Booked"}
    )
    assert disposition.state == "dispositions"
    assert disposition.dispositions == ("Booked",)


def test_signed_body_without_iat_or_exp_is_accepted() -> None:
    claims = sample("outbound-1-calling")
    decoded, signed = read_event_body(sign(claims, SECRET), secret=SECRET, allow_unsigned=False, now=NOW)
    assert signed
    assert decoded == claims


@pytest.mark.parametrize(
    "body",
    [
        sign({"call_id": 1, "state": "calling"}, "another-secret"),
        sign({"call_id": 1, "state": "calling"}, SECRET, algorithm="HS512"),
        jwt.encode({"call_id": 1, "state": "calling"}, "", algorithm="none").encode(),
        sign({"call_id": 1, "state": "calling", "exp": int(NOW.timestamp()) - 3600}, SECRET),
        sign({"call_id": 1, "state": "calling", "nbf": int(NOW.timestamp()) + 3600}, SECRET),
    ],
    ids=["bad-signature", "hs512", "alg-none", "expired", "not-yet-valid"],
)
def test_untrusted_bodies_are_unauthenticated(body: bytes) -> None:
    with pytest.raises(Unauthenticated):
        read_event_body(body, secret=SECRET, allow_unsigned=False, now=NOW)


def test_unexpired_exp_is_accepted() -> None:
    body = sign({"call_id": 1, "state": "calling", "exp": int(NOW.timestamp()) + 60}, SECRET)
    assert read_event_body(body, secret=SECRET, allow_unsigned=False, now=NOW)[0]["call_id"] == 1


@pytest.mark.parametrize("body", [b"hello", b"", b"a.b.c", b"\xff\xfe"])
def test_non_jwt_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        read_event_body(body, secret=SECRET, allow_unsigned=False, now=NOW)


def test_unsigned_json_only_when_allowed() -> None:
    body = json.dumps({"call_id": 1, "state": "calling"}).encode()
    with pytest.raises(Unauthenticated):
        read_event_body(body, secret=SECRET, allow_unsigned=False, now=NOW)
    claims, signed = read_event_body(body, secret=SECRET, allow_unsigned=True, now=NOW)
    assert (claims, signed) == ({"call_id": 1, "state": "calling"}, False)


def test_a_jwt_for_a_tenant_without_secret_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        read_event_body(sign({"call_id": 1}, SECRET), secret=None, allow_unsigned=True, now=NOW)
