"""Folding a call's events: order-proof status and times, legs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.call_projection import (
    call_status,
    customer_calls,
    primary_leg,
    project_call,
    project_customer_call,
)
from domain.calls import CallDirection, CallStatus
from domain.dialpad_events import CallEventFacts, parse_call_event
from tests.dialpad_samples import INBOUND, OUTBOUND, sample


def _facts(*names: str) -> list[CallEventFacts]:
    return [parse_call_event(sample(name)) for name in names]


def test_outbound_samples_project_a_completed_call() -> None:
    call = project_call(_facts(*OUTBOUND), region="AU")
    assert call.status is CallStatus.COMPLETED
    assert call.direction is CallDirection.OUTBOUND
    assert (call.from_number, call.to_number) == ("+61485986529", "+61430363930")
    assert call.started_at == datetime.fromtimestamp(1768492800, tz=UTC)
    assert call.connected_at == datetime.fromtimestamp(1768492808.42, tz=UTC)
    assert call.ended_at == datetime.fromtimestamp(1768492993.65, tz=UTC)
    assert call.duration_seconds == Decimal("185.23")
    assert call.agent_name == "Ana Agent"
    assert call.recording_url == "https://dialpad.com/recordings/5139284756283392"
    assert call.dispositions == ("Sales~Booked",)
    assert call.disposition_event_ms == 1768493035000
    assert (call.customer_call_key, call.is_primary_leg) == ("5308476234735616", True)


def test_every_order_of_the_outbound_events_projects_the_same_call() -> None:
    facts = _facts(*OUTBOUND)
    results = {project_call(order, region="AU") for order in itertools.permutations(facts)}
    assert len(results) == 1


@pytest.mark.parametrize(
    ("names", "status"),
    [
        (OUTBOUND[:1], CallStatus.RINGING),
        (OUTBOUND[:2], CallStatus.CONNECTED),
        (OUTBOUND[:3], CallStatus.COMPLETED),
        (INBOUND[:1], CallStatus.MISSED),
        (INBOUND, CallStatus.VOICEMAIL),
    ],
)
def test_status_follows_the_facts_known_so_far(names: tuple[str, ...], status: CallStatus) -> None:
    assert project_call(_facts(*names)).status is status


def test_an_unanswered_outbound_call_is_no_answer_and_a_late_ringing_changes_nothing() -> None:
    hangup = sample("outbound-3-hangup") | {"date_connected": None, "duration": 0, "recording_details": []}
    ringing = sample("outbound-1-calling") | {"state": "ringing", "event_timestamp": 1768492801000}
    ended = project_call([parse_call_event(hangup)])
    assert ended.status is CallStatus.NO_ANSWER
    with_late_ringing = project_call([parse_call_event(hangup), parse_call_event(ringing)])
    assert with_late_ringing.status is CallStatus.NO_ANSWER
    assert with_late_ringing.ended_at == ended.ended_at


def test_a_known_time_is_never_replaced_by_null() -> None:
    connected = sample("outbound-2-connected")
    # A later event that (wrongly) carries no times keeps the known ones.
    later = sample("outbound-2-connected") | {
        "state": "hold",
        "event_timestamp": connected["event_timestamp"] + 1000,
        "date_started": None,
        "date_connected": None,
    }
    call = project_call([parse_call_event(connected), parse_call_event(later)])
    assert call.connected_at == datetime.fromtimestamp(1768492808.42, tz=UTC)
    assert call.started_at == datetime.fromtimestamp(1768492800, tz=UTC)
    assert call.status is CallStatus.CONNECTED


def test_status_table() -> None:
    out, inb = CallDirection.OUTBOUND, CallDirection.INBOUND
    assert call_status(direction=out, connected=True, ended=True, voicemail=False) is CallStatus.COMPLETED
    assert call_status(direction=out, connected=False, ended=True, voicemail=False) is CallStatus.NO_ANSWER
    assert call_status(direction=inb, connected=False, ended=True, voicemail=False) is CallStatus.MISSED
    assert call_status(direction=inb, connected=False, ended=True, voicemail=True) is CallStatus.VOICEMAIL
    assert call_status(direction=inb, connected=True, ended=False, voicemail=False) is CallStatus.CONNECTED
    assert call_status(direction=inb, connected=False, ended=False, voicemail=False) is CallStatus.RINGING
    abandoned = call_status(direction=inb, connected=False, ended=True, voicemail=False, rang_agent=False)
    assert abandoned is CallStatus.ABANDONED


def test_the_legs_of_one_customer_call_fold_into_one_record_on_the_lowest_leg() -> None:
    root = sample("inbound-1-missed") | {"call_id": 333}
    agent_leg = sample("inbound-1-missed") | {
        "call_id": 222,
        "state": "connected",
        "entry_point_call_id": 333,
        "date_connected": root["event_timestamp"] + 5000,
        "date_ended": None,
        "target": {"id": 7, "name": "Ana", "type": "user"},
    }
    legs = {"333": [parse_call_event(root)], "222": [parse_call_event(agent_leg)]}
    assert primary_leg(legs) == "222"
    customer = project_customer_call(legs, primary="222")
    assert (customer.customer_call_key, customer.is_primary_leg, customer.linked) == ("222", True, True)
    # Answered by a person on the agent's leg; the root leg alone only missed.
    assert customer.status is CallStatus.CONNECTED
    assert (customer.agent_id, customer.agent_name) == ("7", "Ana")
    alone = project_call(legs["333"]).as_leg_of("222")
    assert (alone.status, alone.is_primary_leg, alone.customer_call_key) == (CallStatus.MISSED, False, "222")
    # Ids compare as numbers: 1000 is after 999.
    assert primary_leg(["1000", "999"]) == "999"


def test_an_ivr_pickup_is_not_a_connect_and_an_unanswered_inbound_call_is_abandoned() -> None:
    menu = sample("inbound-1-missed") | {"state": "connected", "date_connected": None, "talk_time": 0}
    menu["target"] = {"id": 1, "name": "Main line", "type": "department"}
    hangup = menu | {"state": "hangup", "event_timestamp": menu["event_timestamp"] + 60_000}
    call = project_call([parse_call_event(menu), parse_call_event(hangup)])
    assert (call.status, call.connected_at) == (CallStatus.ABANDONED, None)


def test_direction_comes_from_the_first_event_that_carries_one() -> None:
    events = [sample(name) for name in ("outbound-1-calling", "outbound-3-hangup")]
    late = sample("outbound-4-dispositions")
    del late["direction"]
    call = project_call([parse_call_event(event) for event in [*events, late]])
    assert call.direction is CallDirection.OUTBOUND


def test_an_outbound_call_taken_by_voicemail_is_not_a_connect() -> None:
    events = [sample(name) for name in OUTBOUND]
    events[-1]["call_dispositions"] = "Left Voicemail"
    call = project_call([parse_call_event(event) for event in events])
    assert (call.status, call.connected_at) == (CallStatus.NO_ANSWER, None)
    silent = [sample(name) for name in OUTBOUND[:3]]
    silent[2]["talk_time"] = 0
    assert project_call([parse_call_event(event) for event in silent]).status is CallStatus.NO_ANSWER


def test_legs_linked_either_way_directly_or_through_others_are_one_customer_call() -> None:
    # root <- call center (master) ; agent -> call center (entry point); transfer -> agent (master);
    # a second, unrelated call; a leg named by another but never arrived (900) still joins.
    links = {"20": {"10"}, "30": {"20"}, "40": {"30"}, "50": set(), "60": {"900"}}
    assert customer_calls(links) == [{"10", "20", "30", "40"}, {"50"}, {"60", "900"}]
    # Whichever leg names which: the call center naming its operator leg links them as well.
    assert customer_calls({"20": {"30"}, "30": set()}) == [{"20", "30"}]
