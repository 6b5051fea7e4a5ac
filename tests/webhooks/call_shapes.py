"""A library of realistic multi-leg Dialpad call event sequences, with their outcomes worked out by hand.

Built from Dialpad's documented `CallProto` fields (call_id, master_call_id, entry_point_call_id,
operator_call_id, target {id, name, phone, email, type}, entry_point_target, proxy_target,
group_id, date_* and event_timestamp in ms, duration and talk_time in ms) and the shapes receivers
of real traffic report (see docs/dialpad.md, "One customer call, several legs"):

    inbound via a call center          department main line (IVR) -> call center -> agent
    CC leg ----operator_call_id---->   root (department) <--master_call_id-- CC leg
      ^                 agent leg          CC leg <--entry_point_call_id-- agent leg
      +--entry_point_call_id--+
    transfer: Bob's leg --master_call_id--> Ana's leg

Every time is an offset in seconds from the shape's base instant; a shape's person has one phone.
Expected outcomes are plain numbers written by hand next to each shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMPANY = {
    "id": 4716644561813504,
    "name": "Acme Solar",
    "phone": "+12025550100",
    "email": "",
    "type": "callcenter",
}
DEPARTMENT = {
    "id": 4716644561813599,
    "name": "Acme Main Line",
    "phone": "+12025550101",
    "email": "",
    "type": "department",
}
ANA = {
    "id": 5821975242293248,
    "name": "Ana Agent",
    "phone": "+12025550111",
    "email": "ana@example.com",
    "type": "user",
}
BOB = {
    "id": 5821975242293249,
    "name": "Bob Agent",
    "phone": "+12025550112",
    "email": "bob@example.com",
    "type": "user",
}
CARA = {
    "id": 5821975242293250,
    "name": "Cara Agent",
    "phone": "+12025550113",
    "email": "cara@example.com",
    "type": "user",
}

PERSON = "+12025550199"
OTHER_PERSON = "+12025550188"


def leg_event(
    call_id: int,
    state: str,
    at: float,
    *,
    base_ms: int,
    target: dict[str, Any],
    direction: str | None = "inbound",
    started: float,
    connected: float | None = None,
    ended: float | None = None,
    talk: float | None = None,
    master: int | None = None,
    entry_point: int | None = None,
    operator: int | None = None,
    phone: str = PERSON,
    disposition: str | None = None,
    recording: str | None = None,
    voicemail: str | None = None,
) -> dict[str, Any]:
    """One CallProto event of one leg, times as offsets in seconds from `base_ms`."""

    def ms(offset: float | None) -> int | None:
        return None if offset is None else base_ms + int(offset * 1000)

    event: dict[str, Any] = {
        "call_id": call_id,
        "master_call_id": master,
        "entry_point_call_id": entry_point,
        "operator_call_id": operator,
        "state": state,
        "event_timestamp": ms(at),
        "date_started": ms(started),
        "date_rang": ms(started + 1),
        "date_connected": ms(connected),
        "date_ended": ms(ended),
        "duration": (ended - started) * 1000 if ended is not None else 0,
        "external_number": phone,
        "internal_number": target["phone"],
        "contact": {
            "id": 6131436978913280,
            "name": "John Smith",
            "phone": phone,
            "email": "",
            "type": "local",
        },
        "target": target,
        "proxy_target": COMPANY,
        "entry_point_target": DEPARTMENT if master else {},
        "group_id": None,
        "is_transferred": False,
        "recording_details": [],
    }
    if direction is not None:
        event["direction"] = direction
    if talk is not None:
        event["talk_time"] = talk * 1000
    if disposition is not None:
        event["call_dispositions"] = disposition
    if recording is not None:
        event["recording_details"] = [
            {"id": 1, "url": recording, "recording_type": "callrecording", "start_time": ms(at)}
        ]
    if voicemail is not None:
        event["voicemail_link"] = voicemail
    return event


@dataclass(frozen=True)
class ExpectedCall:
    """The customer call, by hand: its primary leg's id and what its row must say."""

    primary: str
    status: str
    direction: str
    agent_id: str | None
    connected: float | None  # offset in seconds, or None
    booked: bool
    legs: int


@dataclass(frozen=True)
class ExpectedLead:
    created: float
    status: str
    attempt: float | None
    connected: float | None
    phone: str = PERSON


@dataclass(frozen=True)
class ExpectedMetrics:
    """The tenant's figures over a range holding the shape, by hand."""

    connection: tuple[int, int]
    booking: tuple[int, int]
    response: tuple[int, int]
    attempted: int
    unattempted: int
    median_speed: float | None
    within_sla: int
    breached: int


@dataclass(frozen=True)
class Shape:
    name: str
    events: list[dict[str, Any]]
    call: ExpectedCall
    leads: list[ExpectedLead] = field(default_factory=list)
    metrics: ExpectedMetrics | None = None


# Speeds in the figures: SLA is the tenant default, 300 s.


def inbound_call_center(base_ms: int, *, disposition_on: str) -> Shape:
    """The customer calls the call center; Ana answers on her (operator) leg; booked on either leg."""
    cc: dict[str, Any] = {"base_ms": base_ms, "target": COMPANY, "started": 0, "operator": 1002}
    agent: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 5, "entry_point": 1001}
    on_agent = disposition_on == "agent"
    booked = leg_event(
        1002 if on_agent else 1001,
        "dispositions",
        230,
        **(agent if on_agent else cc),
        connected=12,
        ended=195 if on_agent else 200,
        talk=183 if on_agent else 188,
        disposition="Appointment Booked",
    )
    return Shape(
        f"inbound call center, booked on the {disposition_on} leg",
        [
            leg_event(1001, "ringing", 0, **cc),
            leg_event(1002, "ringing", 5, **agent),
            leg_event(1002, "connected", 12, **agent, connected=12),
            leg_event(1001, "connected", 12, **cc, connected=12),
            leg_event(1002, "hangup", 195, **agent, connected=12, ended=195, talk=183),
            leg_event(1001, "hangup", 200, **cc, connected=12, ended=200, talk=188),
            booked,
        ],
        # The lead arrived 60 s before; it was spoken with at 12 s (within the SLA), never dialled.
        ExpectedCall("1001", "completed", "inbound", str(ANA["id"]), 12, True, 2),
        [ExpectedLead(-60, "booked", None, 12)],
        ExpectedMetrics((0, 0), (1, 1), (1, 1), 0, 1, None, 1, 0),
    )


def missed_to_voicemail(base_ms: int) -> Shape:
    """Rang Ana through the call center, nobody answered, the caller left a voicemail."""
    cc: dict[str, Any] = {"base_ms": base_ms, "target": COMPANY, "started": 0, "operator": 2002}
    agent: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 2, "entry_point": 2001}
    return Shape(
        "missed to voicemail",
        [
            leg_event(2001, "ringing", 0, **cc),
            leg_event(2002, "ringing", 2, **agent),
            leg_event(2002, "missed", 30, **agent, ended=30, talk=0),
            leg_event(2001, "voicemail", 60, **cc),
            leg_event(
                2001, "voicemail_uploaded", 95, **cc, ended=90, talk=0, voicemail="https://dialpad.com/vm/1"
            ),
        ],
        ExpectedCall("2001", "voicemail", "inbound", str(ANA["id"]), None, False, 2),
        # A voicemail is no conversation: the lead (10 min old) is neither reached nor attempted.
        [ExpectedLead(-600, "new", None, None)],
        ExpectedMetrics((0, 0), (0, 0), (0, 1), 0, 1, None, 0, 1),
    )


def outbound_booked(base_ms: int) -> Shape:
    """Ana dials the lead two minutes after the form; they talk; she sets Appointment Booked."""
    leg: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0, "direction": "outbound"}
    return Shape(
        "outbound connected, booked",
        [
            leg_event(3001, "calling", 0, **leg),
            leg_event(3001, "connected", 8, **leg, connected=8),
            leg_event(3001, "hangup", 190, **leg, connected=8, ended=190, talk=182),
            leg_event(
                3001,
                "dispositions",
                220,
                **leg,
                connected=8,
                ended=190,
                talk=182,
                disposition="Sales~Appointment Booked",
            ),
        ],
        ExpectedCall("3001", "completed", "outbound", str(ANA["id"]), 8, True, 1),
        [ExpectedLead(-120, "booked", 0, 8)],
        ExpectedMetrics((1, 1), (1, 1), (1, 1), 1, 0, 120.0, 1, 0),
    )


def outbound_cancelled(base_ms: int) -> Shape:
    """Ana dials 10 minutes after the form and hangs up before anyone answers."""
    leg: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0, "direction": "outbound"}
    return Shape(
        "outbound cancelled",
        [
            leg_event(4001, "calling", 0, **leg),
            leg_event(4001, "hangup", 15, **leg, ended=15, talk=0),
        ],
        ExpectedCall("4001", "no_answer", "outbound", str(ANA["id"]), None, False, 1),
        [ExpectedLead(-600, "new", 0, None)],
        ExpectedMetrics((0, 1), (0, 0), (0, 1), 1, 0, 600.0, 0, 1),
    )


def transfer(base_ms: int) -> Shape:
    """The customer calls Ana's line; Ana transfers to Bob, who books (on his leg)."""
    ana: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0}
    bob: dict[str, Any] = {"base_ms": base_ms, "target": BOB, "started": 110, "master": 5001}
    return Shape(
        "transfer",
        [
            leg_event(5001, "ringing", 0, **ana),
            leg_event(5001, "connected", 6, **ana, connected=6),
            leg_event(5002, "ringing", 110, **bob),
            leg_event(5002, "connected", 118, **bob, connected=118),
            leg_event(5001, "hangup", 120, **ana, connected=6, ended=120, talk=114),
            leg_event(5002, "hangup", 300, **bob, connected=118, ended=300, talk=182),
            leg_event(
                5002,
                "dispositions",
                320,
                **bob,
                connected=118,
                ended=300,
                talk=182,
                disposition="Appointment booked",
            ),
        ],
        ExpectedCall("5001", "completed", "inbound", str(BOB["id"]), 6, True, 2),
        # The lead came in 400 s before: spoken with at 406 s, after the SLA.
        [ExpectedLead(-400, "booked", None, 6)],
        ExpectedMetrics((0, 0), (1, 1), (1, 1), 0, 1, None, 0, 1),
    )


def department_ivr(base_ms: int, *, with_root: bool) -> Shape:
    """Main line IVR (root leg) -> call center (master = root) -> Cara (entry point = call center)."""
    root: dict[str, Any] = {"base_ms": base_ms, "target": DEPARTMENT, "started": 0}
    cc: dict[str, Any] = {"base_ms": base_ms, "target": COMPANY, "started": 20, "master": 6001}
    cara: dict[str, Any] = {"base_ms": base_ms, "target": CARA, "started": 35, "entry_point": 6002}
    events = [
        leg_event(6002, "ringing", 20, **cc),
        leg_event(6002, "queued", 21, **cc),
        leg_event(6003, "ringing", 35, **cara),
        leg_event(6003, "connected", 40, **cara, connected=40),
        leg_event(6002, "connected", 40, **cc, connected=40),
        leg_event(6003, "hangup", 199, **cara, connected=40, ended=199, talk=159),
        leg_event(6002, "hangup", 200, **cc, connected=40, ended=200, talk=160),
        leg_event(
            6003, "dispositions", 230, **cara, connected=40, ended=199, talk=159, disposition="Not Interested"
        ),
    ]
    if with_root:
        events = [
            leg_event(6001, "ringing", 0, **root),
            # The IVR menu picks up: no date_connected, no talk.
            leg_event(6001, "connected", 1, **root, talk=0),
            *events,
            leg_event(6001, "hangup", 201, **root, ended=201, talk=0),
        ]
    return Shape(
        f"department IVR -> call center -> agent ({'with' if with_root else 'without'} the root leg)",
        events,
        ExpectedCall(
            "6001" if with_root else "6002",
            "completed",
            "inbound",
            str(CARA["id"]),
            40,
            False,
            3 if with_root else 2,
        ),
        # The lead is an hour old: reached, long after the SLA; "Not Interested" books nothing.
        [ExpectedLead(-3600, "contacted", None, 40)],
        ExpectedMetrics((0, 0), (0, 1), (1, 1), 0, 1, None, 0, 1),
    )


def queue_abandon(base_ms: int) -> Shape:
    """The caller reaches the call center's menu, waits in the queue and hangs up."""
    cc: dict[str, Any] = {"base_ms": base_ms, "target": COMPANY, "started": 0}
    return Shape(
        "IVR/queue abandon",
        [
            leg_event(7001, "ringing", 0, **cc),
            leg_event(7001, "connected", 2, **cc, talk=0),
            leg_event(7001, "queued", 3, **cc, talk=0),
            leg_event(7001, "hangup", 60, **cc, ended=60, talk=0),
        ],
        ExpectedCall("7001", "abandoned", "inbound", None, None, False, 1),
        [ExpectedLead(-30, "new", None, None)],
        # Nobody spoke with the lead: 30 s old at the call, breached long since by the clock.
        ExpectedMetrics((0, 0), (0, 0), (0, 1), 0, 1, None, 0, 1),
    )


def post_call_without_direction(base_ms: int) -> Shape:
    """An outbound call whose `recording` and `call_transcription` events carry no direction."""
    leg: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0, "direction": "outbound"}
    after: dict[str, Any] = {**leg, "direction": None, "connected": 5, "ended": 100, "talk": 95}
    return Shape(
        "post-call events without direction",
        [
            leg_event(8001, "calling", 0, **leg),
            leg_event(8001, "connected", 5, **leg, connected=5),
            leg_event(8001, "hangup", 100, **leg, connected=5, ended=100, talk=95),
            leg_event(8001, "recording", 130, **after, recording="https://dialpad.com/r/8001"),
            leg_event(8001, "call_transcription", 140, **after),
        ],
        ExpectedCall("8001", "completed", "outbound", str(ANA["id"]), 5, False, 1),
        [ExpectedLead(-200, "contacted", 0, 5)],
        ExpectedMetrics((1, 1), (0, 1), (1, 1), 1, 0, 200.0, 1, 0),
    )


def lead_calls_in(base_ms: int) -> Shape:
    """The lead phones in a minute after the form; Ana answers 72 s after the form."""
    leg: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0}
    return Shape(
        "lead calls in and is answered",
        [
            leg_event(9001, "ringing", 0, **leg),
            leg_event(9001, "connected", 12, **leg, connected=12),
            leg_event(9001, "hangup", 140, **leg, connected=12, ended=140, talk=128),
        ],
        ExpectedCall("9001", "completed", "inbound", str(ANA["id"]), 12, False, 1),
        [ExpectedLead(-60, "contacted", None, 12)],
        # Never dialled, but spoken with within the SLA: within, not breached.
        ExpectedMetrics((0, 0), (0, 1), (1, 1), 0, 1, None, 1, 0),
    )


def two_leads_one_person(base_ms: int) -> Shape:
    """Two forms three minutes apart, one call to the person two minutes after the second."""
    leg: dict[str, Any] = {"base_ms": base_ms, "target": ANA, "started": 0, "direction": "outbound"}
    return Shape(
        "two leads of one person",
        [
            leg_event(9101, "calling", 0, **leg),
            leg_event(9101, "connected", 10, **leg, connected=10),
            leg_event(9101, "hangup", 70, **leg, connected=10, ended=70, talk=60),
        ],
        ExpectedCall("9101", "completed", "outbound", str(ANA["id"]), 10, False, 1),
        [ExpectedLead(-300, "contacted", 0, 10), ExpectedLead(-120, "contacted", 0, 10)],
        # Speeds 300 (exactly the SLA: within) and 120.
        ExpectedMetrics((1, 1), (0, 1), (2, 2), 2, 0, 210.0, 2, 0),
    )


def library(base_ms: int) -> list[Shape]:
    return [
        inbound_call_center(base_ms, disposition_on="agent"),
        inbound_call_center(base_ms, disposition_on="call center"),
        missed_to_voicemail(base_ms),
        outbound_booked(base_ms),
        outbound_cancelled(base_ms),
        transfer(base_ms),
        department_ivr(base_ms, with_root=True),
        department_ivr(base_ms, with_root=False),
        queue_abandon(base_ms),
        post_call_without_direction(base_ms),
        lead_calls_in(base_ms),
        two_leads_one_person(base_ms),
    ]
