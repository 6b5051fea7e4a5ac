"""Issue 17's figures on a hand-computed data set, posted through the real webhooks (leads through the
lead webhook, calls as Dialpad events) to a real server, read through GraphQL over HTTP.

Tenant in America/New_York, open Monday-Friday 09:00-17:00, SLA 300 s on the BUSINESS_HOURS clock,
holiday Tuesday 2024-03-12, cost per lead google 50 and facebook 20. The range is Thursday
2024-03-07 00:00 EST to Wednesday 2024-03-13 00:00 EDT: six tenant days, Sunday 10 March has 23 hours
(02:00 EST -> 03:00 EDT). The server's clock follows the data (each lead and call is posted at its
own time, the SLA sweep running) and ends at 2024-03-20 12:00Z.

Leads (local time; UTC in the code). Business deadline = last instant within 300 open seconds.
  A google   Thu 10:00 EST   Ana out 10:02, talks 10:02:20-10:07:20, booked     deadline Thu 10:05
  B facebook Thu 16:58 EST   Bob out 16:59 no answer; Cara out Fri 09:01,      deadline Fri 09:03
                             talks 09:01:30-09:04:30                           (2 open min Thursday)
  C google   Fri 18:30 EST   the Friday-evening lead: Ana out Mon 10:00 EDT,   deadline Mon 09:05:
                             talks 10:00:15-10:02:15                           breached, swept then
  D facebook Sat 11:00 EST   phones in Sat 11:10, missed (Ana); Bob out        deadline Mon 09:05
                             Mon 09:02, talks 09:02:10-09:06:10
  E referral Sun 01:30 EST   Cara out Sun 03:30 EDT (one real hour: DST),      deadline Mon 09:05
                             no answer; Ana out Mon 09:10 no answer: never reached
  F google   Mon 16:58 EDT   Ana out Wed 09:01 (after the range), talks        deadline Wed 09:03 (the
                             09:01:20-09:03:20                                 holiday is closed)
  G referral Tue 10:00 EDT   phones in 10:05 abandoned (IVR); 10:20 voicemail  deadline Wed 09:05
                             (Bob); Cara out 11:00, talks 11:00:30-11:05:30, booked
  H facebook Tue 20:00 EDT   phones in 20:05, missed (Cara); never called      deadline Wed 09:05,
                                                                               swept then
  P google   Wed 6 Mar 10:00 EST (the previous period): Ana out 10:01, talks 10:01:30-10:03:30
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.tokens import issue_token
from domain.roles import Role
from persistence import users as user_store
from tests.conftest import TEST_JWT_SECRET, UserFixture, error_codes, graphql, serve
from tests.dialpad_samples import sign
from tests.metrics.conftest import SettableClock
from tests.webhooks.call_shapes import ANA, BOB, CARA, COMPANY, leg_event
from tests.webhooks.test_dialpad import SECRET


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


RANGE = {"from": "2024-03-07T00:00:00-05:00", "to": "2024-03-13T00:00:00-04:00"}
NOW = utc("2024-03-20T12:00")
HOLIDAY = "2024-03-12"

# name: (created, source, phone)
LEADS: dict[str, tuple[datetime, str, str]] = {
    "P": (utc("2024-03-06T15:00"), "google", "+12025550209"),
    "A": (utc("2024-03-07T15:00"), "google", "+12025550201"),
    "B": (utc("2024-03-07T21:58"), "facebook", "+12025550202"),
    "C": (utc("2024-03-08T23:30"), "google", "+12025550203"),
    "D": (utc("2024-03-09T16:00"), "facebook", "+12025550204"),
    "E": (utc("2024-03-10T06:30"), "referral", "+12025550205"),
    "F": (utc("2024-03-11T20:58"), "google", "+12025550206"),
    "G": (utc("2024-03-12T14:00"), "referral", "+12025550207"),
    "H": (utc("2024-03-13T00:00"), "facebook", "+12025550208"),
}


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def outbound(
    call_id: int,
    agent: dict[str, Any],
    lead: str,
    start: str,
    *,
    talk: tuple[float, float] | None = None,
    ends: float = 30,
    booked: bool = False,
) -> tuple[datetime, list[dict[str, Any]]]:
    """An agent dials the lead; `talk` = (connected, ended) offsets in seconds when they spoke."""
    at = utc(start)
    leg: dict[str, Any] = {
        "base_ms": _ms(at),
        "target": agent,
        "started": 0,
        "direction": "outbound",
        "phone": LEADS[lead][2],
    }
    if talk is None:
        return at, [
            leg_event(call_id, "calling", 0, **leg),
            leg_event(call_id, "hangup", ends, **leg, ended=ends, talk=0),
        ]
    connected, ended = talk
    spoke: dict[str, Any] = {**leg, "connected": connected, "ended": ended, "talk": ended - connected}
    events = [
        leg_event(call_id, "calling", 0, **leg),
        leg_event(call_id, "connected", connected, **leg, connected=connected),
        leg_event(call_id, "hangup", ended, **spoke),
    ]
    if booked:
        events.append(
            leg_event(call_id, "dispositions", ended + 10, **spoke, disposition="Appointment Booked")
        )
    return at, events


def missed(
    call_id: int, agent: dict[str, Any], lead: str, start: str
) -> tuple[datetime, list[dict[str, Any]]]:
    """The lead phones in; it rings the agent, nobody answers, the caller hangs up."""
    at = utc(start)
    leg: dict[str, Any] = {"base_ms": _ms(at), "target": agent, "started": 0, "phone": LEADS[lead][2]}
    return at, [
        leg_event(call_id, "ringing", 0, **leg),
        leg_event(call_id, "missed", 30, **leg, ended=30, talk=0),
        leg_event(call_id, "hangup", 31, **leg, ended=30, talk=0),
    ]


def voicemail(
    call_id: int, agent: dict[str, Any], lead: str, start: str
) -> tuple[datetime, list[dict[str, Any]]]:
    """The lead phones in; it rings the agent, then the caller leaves a voicemail."""
    at = utc(start)
    leg: dict[str, Any] = {"base_ms": _ms(at), "target": agent, "started": 0, "phone": LEADS[lead][2]}
    return at, [
        leg_event(call_id, "ringing", 0, **leg),
        leg_event(call_id, "missed", 20, **leg),
        leg_event(call_id, "voicemail", 25, **leg),
        leg_event(
            call_id, "voicemail_uploaded", 60, **leg, ended=55, talk=0, voicemail="https://dialpad.com/vm/9"
        ),
    ]


def abandoned(call_id: int, lead: str, start: str) -> tuple[datetime, list[dict[str, Any]]]:
    """The lead phones in, reaches the call center's menu and queue, and hangs up."""
    at = utc(start)
    leg: dict[str, Any] = {"base_ms": _ms(at), "target": COMPANY, "started": 0, "phone": LEADS[lead][2]}
    return at, [
        leg_event(call_id, "ringing", 0, **leg),
        leg_event(call_id, "connected", 2, **leg, talk=0),
        leg_event(call_id, "queued", 3, **leg, talk=0),
        leg_event(call_id, "hangup", 60, **leg, ended=60, talk=0),
    ]


CALLS = [
    outbound(7001, ANA, "P", "2024-03-06T15:01", talk=(30, 150)),
    outbound(7002, ANA, "A", "2024-03-07T15:02", talk=(20, 320), booked=True),
    outbound(7003, BOB, "B", "2024-03-07T21:59"),
    outbound(7004, CARA, "B", "2024-03-08T14:01", talk=(30, 210)),
    missed(7005, ANA, "D", "2024-03-09T16:10"),
    outbound(7006, CARA, "E", "2024-03-10T07:30", ends=40),
    outbound(7007, BOB, "D", "2024-03-11T13:02", talk=(10, 250)),
    outbound(7008, ANA, "E", "2024-03-11T13:10"),
    outbound(7009, ANA, "C", "2024-03-11T14:00", talk=(15, 135)),
    abandoned(7010, "G", "2024-03-12T14:05"),
    voicemail(7011, BOB, "G", "2024-03-12T14:20"),
    outbound(7012, CARA, "G", "2024-03-12T15:00", talk=(30, 330), booked=True),
    missed(7013, CARA, "H", "2024-03-13T00:05"),
    outbound(7014, ANA, "F", "2024-03-13T13:01", talk=(20, 140)),
]

# The SLA sweep must find these two with no attempt at their business deadline.
SWEPT = {"C": utc("2024-03-11T13:05"), "H": utc("2024-03-13T13:05")}

SPEED = "averageSeconds medianSeconds p90Seconds attemptedLeads unattemptedLeads withinSla breached bands { label count }"
RATE = "numerator denominator value"
FIGURES = f"""
    leads speedToLead {{ {SPEED} }} businessHours {{ {SPEED} }}
    timeToFirstContact {{ {SPEED} }} businessHoursToFirstContact {{ {SPEED} }}
    contactedWithinSla {{ {RATE} }} leadResponseRate {{ {RATE} }}
    connectionRate {{ {RATE} }} bookingRate {{ {RATE} }}
    attemptsToContact {{ average median contactedLeads neverReached {{ attempts rate {{ {RATE} }} }} }}
    missedInbound {{ total missed abandoned voicemail calledBack {{ {RATE} }} callbackMedianSeconds callbackP90Seconds }}
    byAgent {{ agentId name email attempts leadsFirstAttempted medianSpeedSeconds connects
               connectionRate {{ {RATE} }} bookings bookingRate {{ {RATE} }} medianTalkSeconds }}
    bySource {{ source leads medianSpeedSeconds withinSla contacted booked bookingRate {{ {RATE} }}
                costPerLead spend costPerBooking }}
    trend {{ day leads calls }}
"""
METRICS = f"""
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {{
  metrics(tenantId: $tenantId, from: $from, to: $to) {{
    {FIGURES}
    previous {{ from to leads speedToLead {{ medianSeconds }} contactedWithinSla {{ {RATE} }}
               missedInbound {{ total }} byAgent {{ agentId attempts leadsFirstAttempted medianSpeedSeconds }}
               previous {{ leads }} }}
  }}
}}
"""
# Through a fragment and an inline fragment: the breakdowns are read whichever way they are selected.
BY_AGENT = """
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {
  metrics(tenantId: $tenantId, from: $from, to: $to) { ...Agents }
}
fragment Agents on Metrics { ... on Metrics { byAgent { agentId name email attempts } } }
"""
SETTINGS = """
mutation ($tenantId: ID!, $input: TenantSettingsInput!) {
  updateTenantSettings(tenantId: $tenantId, input: $input) {
    settings { slaClock holidays sourceCosts { source costPerLead } }
  }
}
"""
LEAD = "query ($id: ID!) { lead(id: $id) { slaBreachedAt firstAttemptAt } }"


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {
        "numerator": numerator,
        "denominator": denominator,
        "value": pytest.approx(numerator / denominator) if denominator else None,
    }


def bands(under_5: int, under_15: int, under_60: int, over_60: int) -> list[dict[str, Any]]:
    labels = ("0-5 min", "5-15 min", "15-60 min", "over 60 min")
    return [
        {"label": label, "count": count}
        for label, count in zip(labels, (under_5, under_15, under_60, over_60), strict=True)
    ]


def speed(
    values: Sequence[float], *, leads: int, within: int, breached: int, bands_: list[dict[str, Any]]
) -> dict[str, Any]:
    """The figures of a list of seconds written out by hand: sorted, so median and p90 below are
    read off by position (p90 of n values sits at 0.9 * (n - 1))."""
    assert list(values) == sorted(values)
    return {
        "averageSeconds": pytest.approx(sum(values) / len(values)),
        "attemptedLeads": len(values),
        "unattemptedLeads": leads - len(values),
        "withinSla": within,
        "breached": breached,
        "bands": bands_,
    }


def _user_headers(user_id: str, email: str, role: Role) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {issue_token(TEST_JWT_SECRET, subject=user_id, email=email, role=role.value)}"
    }


@pytest.fixture
async def world(make_app, make_tenant, make_user, engine: AsyncEngine) -> AsyncIterator[dict[str, Any]]:
    """The data set posted through the webhooks to a real server; yields the client, tenant, admin and lead ids."""
    clock = SettableClock(utc("2024-03-01T00:00"))
    tenant = await make_tenant(timezone="America/New_York")
    admin = await make_user(Role.ADMIN)
    app = make_app(clock=clock, sla_sweep_seconds=0.05)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        body = await graphql(
            http,
            SETTINGS,
            {
                "tenantId": str(tenant.id),
                "input": {
                    "slaClock": "BUSINESS_HOURS",
                    "holidays": [HOLIDAY],
                    "sourceCosts": [
                        {"source": "google", "costPerLead": 50},
                        {"source": "facebook", "costPerLead": 20},
                    ],
                },
            },
            user=admin,
        )
        assert body["data"]["updateTenantSettings"]["settings"] == {
            "slaClock": "BUSINESS_HOURS",
            "holidays": [HOLIDAY],
            "sourceCosts": [
                {"source": "facebook", "costPerLead": 20.0},
                {"source": "google", "costPerLead": 50.0},
            ],
        }
        # Everything in time order, the server's clock at each one's time.
        timeline: list[tuple[datetime, str, Any]] = [
            *((created, "lead", name) for name, (created, _, _) in LEADS.items()),
            *((at, "call", events) for at, events in CALLS),
        ]
        lead_ids: dict[str, str] = {}
        for at, kind, what in sorted(timeline, key=lambda item: item[0]):
            for name, deadline in SWEPT.items():
                if name in lead_ids and clock.at < deadline < at:
                    # The deadline passes before this: the sweep must mark the lead (waited on).
                    clock.at = deadline + timedelta(seconds=1)
                    await _until_breached(http, admin, lead_ids[name])
            clock.at = at
            if kind == "lead":
                _, source, phone = LEADS[what]
                answer = await http.post(
                    tenant.lead_url,
                    json={"contact": {"name": f"Lead {what}", "phone": phone}, "lead": {"source": source}},
                )
                assert answer.status_code == 201, answer.text
                lead_ids[what] = answer.json()["lead_id"]
            else:
                for event in what:
                    answer = await http.post(
                        f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(event, SECRET)
                    )
                    assert answer.status_code == 200, answer.text
        clock.at = NOW
        await _until_breached(http, admin, lead_ids["H"])
        yield {"http": http, "tenant": tenant, "admin": admin, "leads": lead_ids, "engine": engine}


async def _until_breached(http: httpx.AsyncClient, admin: UserFixture, lead_id: str) -> None:
    async with asyncio.timeout(20):
        while True:
            body = await graphql(http, LEAD, {"id": lead_id}, user=admin)
            if body["data"]["lead"]["slaBreachedAt"] is not None:
                return
            await asyncio.sleep(0.02)


async def test_every_new_figure_equals_the_hand_computed_one(world) -> None:
    http, tenant, admin = world["http"], world["tenant"], world["admin"]
    body = await graphql(http, METRICS, {"tenantId": str(tenant.id), **RANGE}, user=admin)
    assert "errors" not in body, body
    m = body["data"]["metrics"]
    assert m["leads"] == 8
    # Speed-to-lead in seconds (first attempt - created), attempted leads sorted:
    # B 60, A 120, E 3600 (01:30 EST -> 03:30 EDT is one hour), G 3600, F 40h03m, D 45h02m, C 62h30m.
    wall = [60, 120, 3600, 3600, 40 * 3600 + 180, 45 * 3600 + 120, 62 * 3600 + 1800]
    assert m["speedToLead"] == {
        # Within by the business clock: A B D E F G; breached: C (Mon 10:00 > 09:05), H (never).
        **speed(wall, leads=8, within=6, breached=2, bands_=bands(2, 0, 0, 5)),
        "medianSeconds": 3600,
        "p90Seconds": pytest.approx(wall[5] + 0.4 * (wall[6] - wall[5])),
    }
    # Open seconds: E 0 (Sunday), G 0 (holiday), B 60, A 120, D 120 (Mon 09:00-09:02),
    # F 180 (Mon 16:58-17:00, holiday, Wed 09:00-09:01), C 3600.
    business = [0, 0, 60, 120, 120, 180, 3600]
    assert m["businessHours"] == {
        **speed(business, leads=8, within=6, breached=2, bands_=bands(6, 0, 0, 1)),
        "medianSeconds": 120,
        "p90Seconds": pytest.approx(180 + 0.4 * (3600 - 180)),
    }
    # First contact (a connected call either way): A 140, G 3630, B 16h03m30s, F 40h03m20s,
    # D 45h02m10s, C 62h30m15s; E and H never.
    contact = [140, 3630, 16 * 3600 + 210, 40 * 3600 + 200, 45 * 3600 + 130, 62 * 3600 + 1815]
    assert m["timeToFirstContact"] == {
        # Within: A B D F G; breached: C (late), E and H (never, deadlines long past).
        **speed(contact, leads=8, within=5, breached=3, bands_=bands(1, 0, 0, 5)),
        "medianSeconds": pytest.approx((contact[2] + contact[3]) / 2),
        "p90Seconds": pytest.approx(contact[4] + 0.5 * (contact[5] - contact[4])),
    }
    # Open seconds to contact: G 0, D 130, A 140, F 200, B 210 (120 Thursday + 90 Friday), C 3615.
    contact_business = [0, 130, 140, 200, 210, 3615]
    assert m["businessHoursToFirstContact"] == {
        **speed(contact_business, leads=8, within=5, breached=3, bands_=bands(5, 0, 0, 1)),
        "medianSeconds": pytest.approx((140 + 200) / 2),
        "p90Seconds": pytest.approx(210 + 0.5 * (3615 - 210)),
    }
    assert m["contactedWithinSla"] == rate(5, 8)
    assert m["leadResponseRate"] == rate(6, 8)
    # Calls of the range (12; Ana's call to F is after it): outbound 8, of which connected 5
    # (A, B's second, D, C, G); connected 5, booked 2 (A, G).
    assert m["connectionRate"] == rate(5, 8)
    assert m["bookingRate"] == rate(2, 5)
    # Outbound attempts up to the first contact: A 1, B 2, C 1, D 1 (its missed call is inbound),
    # F 1, G 1; never reached: E 2, H 0.
    assert m["attemptsToContact"] == {
        "average": pytest.approx(7 / 6),
        "median": 1,
        "contactedLeads": 6,
        "neverReached": [
            {"attempts": 1, "rate": rate(1, 7)},
            {"attempts": 2, "rate": rate(1, 2)},
            {"attempts": 3, "rate": rate(0, 0)},
            {"attempts": 4, "rate": rate(0, 0)},
            {"attempts": 5, "rate": rate(0, 0)},
        ],
    }
    # Missed: D's (Sat 16:10, called back Mon 13:02: 2 days - 3h08m), G's abandoned (14:05, called
    # back 15:00: 55 min) and voicemail (14:20: 40 min), H's (never called back).
    callbacks = [2400, 3300, 2 * 86400 - 3 * 3600 - 480]
    assert m["missedInbound"] == {
        "total": 4,
        "missed": 2,
        "abandoned": 1,
        "voicemail": 1,
        "calledBack": rate(3, 4),
        "callbackMedianSeconds": 3300,
        "callbackP90Seconds": pytest.approx(callbacks[1] + 0.8 * (callbacks[2] - callbacks[1])),
    }
    assert m["byAgent"] == [
        # Ana: out A (booked, 300 s talk), E (no answer), C (120 s); D's missed call rang her.
        # First attempts: A 120, F 40h03m (its call is after the range, its lead in it), C 62h30m.
        {
            "agentId": str(ANA["id"]),
            "name": "Ana Agent",
            "email": "ana@example.com",
            "attempts": 3,
            "leadsFirstAttempted": 3,
            "medianSpeedSeconds": wall[4],
            "connects": 2,
            "connectionRate": rate(2, 3),
            "bookings": 1,
            "bookingRate": rate(1, 2),
            "medianTalkSeconds": (300 + 120) / 2,
        },
        # Bob: out B (no answer), D (240 s); G's voicemail rang him. First attempts: B 60, D 45h02m.
        {
            "agentId": str(BOB["id"]),
            "name": "Bob Agent",
            "email": "bob@example.com",
            "attempts": 2,
            "leadsFirstAttempted": 2,
            "medianSpeedSeconds": pytest.approx((60 + wall[5]) / 2),
            "connects": 1,
            "connectionRate": rate(1, 2),
            "bookings": 0,
            "bookingRate": rate(0, 1),
            "medianTalkSeconds": 240,
        },
        # Cara: out B (180 s), E (no answer), G (booked, 300 s); H's missed call rang her.
        # First attempts: E 3600, G 3600.
        {
            "agentId": str(CARA["id"]),
            "name": "Cara Agent",
            "email": "cara@example.com",
            "attempts": 3,
            "leadsFirstAttempted": 2,
            "medianSpeedSeconds": 3600,
            "connects": 2,
            "connectionRate": rate(2, 3),
            "bookings": 1,
            "bookingRate": rate(1, 2),
            "medianTalkSeconds": (180 + 300) / 2,
        },
    ]
    assert m["bySource"] == [
        # B 60 and D 45h02m (H never attempted); within B, D; reached B, D; no booking; 3 x 20.
        {
            "source": "facebook",
            "leads": 3,
            "medianSpeedSeconds": pytest.approx((60 + wall[5]) / 2),
            "withinSla": 2,
            "contacted": 2,
            "booked": 0,
            "bookingRate": rate(0, 3),
            "costPerLead": 20,
            "spend": 60,
            "costPerBooking": None,
        },
        # A 120, F 40h03m, C 62h30m; within A, F (C late); all reached; A booked; 3 x 50.
        {
            "source": "google",
            "leads": 3,
            "medianSpeedSeconds": wall[4],
            "withinSla": 2,
            "contacted": 3,
            "booked": 1,
            "bookingRate": rate(1, 3),
            "costPerLead": 50,
            "spend": 150,
            "costPerBooking": 150,
        },
        # E 3600, G 3600; both within; G reached and booked; no cost set.
        {
            "source": "referral",
            "leads": 2,
            "medianSpeedSeconds": 3600,
            "withinSla": 2,
            "contacted": 1,
            "booked": 1,
            "bookingRate": rate(1, 2),
            "costPerLead": None,
            "spend": None,
            "costPerBooking": None,
        },
    ]
    # Six tenant days; H (Tue 20:00 EDT) and H's call (20:05) are Tuesday's.
    assert m["trend"] == [
        {"day": "2024-03-07", "leads": 2, "calls": 2},
        {"day": "2024-03-08", "leads": 1, "calls": 1},
        {"day": "2024-03-09", "leads": 1, "calls": 1},
        {"day": "2024-03-10", "leads": 1, "calls": 1},
        {"day": "2024-03-11", "leads": 1, "calls": 3},
        {"day": "2024-03-12", "leads": 2, "calls": 4},
    ]
    # The six tenant days before: Friday 1 March 00:00 EST to the range's start; only P, 60 s.
    assert m["previous"] == {
        "from": "2024-03-01T05:00:00+00:00",
        "to": "2024-03-07T05:00:00+00:00",
        "leads": 1,
        "speedToLead": {"medianSeconds": 60},
        "contactedWithinSla": rate(1, 1),
        "missedInbound": {"total": 0},
        "byAgent": [
            {"agentId": str(ANA["id"]), "attempts": 1, "leadsFirstAttempted": 1, "medianSpeedSeconds": 60}
        ],
        "previous": None,
    }


async def test_first_contact_figures_asked_alone_equal_those_of_the_full_query(world) -> None:
    """They are computed only when selected (persistence/metrics.py `first_contact`): each one asked
    alone, through a fragment, and in the previous period, is the full query's value."""
    http, tenant, admin = world["http"], world["tenant"], world["admin"]
    variables = {"tenantId": str(tenant.id), **RANGE}
    full = await graphql(http, METRICS, variables, user=admin)
    assert "errors" not in full, full
    for name, fields in (
        ("timeToFirstContact", SPEED),
        ("businessHoursToFirstContact", SPEED),
        ("contactedWithinSla", RATE),
    ):
        query = (
            "query ($tenantId: ID!, $from: DateTime, $to: DateTime) {"
            " metrics(tenantId: $tenantId, from: $from, to: $to) { leads ...F } }"
            f" fragment F on Metrics {{ {name} {{ {fields} }} previous {{ contactedWithinSla {{ {RATE} }} }} }}"
        )
        alone = await graphql(http, query, variables, user=admin)
        assert "errors" not in alone, alone
        metrics = alone["data"]["metrics"]
        assert metrics[name] == full["data"]["metrics"][name], name
        assert metrics["previous"] == {
            "contactedWithinSla": full["data"]["metrics"]["previous"]["contactedWithinSla"]
        }
    # And a query that asks for none of them still answers the others alike.
    base = await graphql(
        http,
        "query ($tenantId: ID!, $from: DateTime, $to: DateTime) { metrics(tenantId: $tenantId, from: $from, to: $to) { leads leadResponseRate { numerator denominator value } } }",
        variables,
        user=admin,
    )
    assert base["data"]["metrics"]["leadResponseRate"] == full["data"]["metrics"]["leadResponseRate"]


async def test_the_sla_sweep_follows_the_business_clock_and_the_holiday(world) -> None:
    http, admin, leads = world["http"], world["admin"], world["leads"]
    breached = {}
    for name, lead_id in leads.items():
        body = await graphql(http, LEAD, {"id": lead_id}, user=admin)
        breached[name] = body["data"]["lead"]["slaBreachedAt"]
    # C (Friday 18:30) at Monday 09:05 EDT, not Friday 18:35; H (Tuesday 20:00, a holiday) at
    # Wednesday 09:05 EDT. Everyone else was attempted or reached by the business deadline.
    assert {name: value for name, value in breached.items() if value} == {
        "C": "2024-03-11T13:05:00+00:00",
        "H": "2024-03-13T13:05:00+00:00",
    }


async def test_by_agent_rows_follow_the_role_matrix(world, engine: AsyncEngine) -> None:
    http, tenant = world["http"], world["tenant"]
    async with engine.begin() as connection:
        # Bob signs in as an agent assigned to the tenant (his email is the one Dialpad reports).
        await user_store.upsert_user(
            connection, user_id="bob", email="Bob@Example.com", name="Bob", role=Role.AGENT, tenant_id=None
        )
        await user_store.assign_agent(connection, user_id="bob", tenant_id=tenant.id)
        await user_store.upsert_user(
            connection, user_id="dee", email="dee@example.com", name="Dee", role=Role.AGENT, tenant_id=None
        )
        await user_store.assign_agent(connection, user_id="dee", tenant_id=tenant.id)
        await user_store.upsert_user(
            connection,
            user_id="owner",
            email="owner@example.com",
            name="Owner",
            role=Role.CLIENT,
            tenant_id=tenant.id,
        )
    variables = {"tenantId": str(tenant.id), **RANGE}

    async def rows(headers: dict[str, str]) -> list[dict[str, Any]]:
        answer = await http.post(
            "/graphql", json={"query": BY_AGENT, "variables": variables}, headers=headers
        )
        body = answer.json()
        assert "errors" not in body, body
        agents: list[dict[str, Any]] = body["data"]["metrics"]["byAgent"]
        return agents

    everyone = await rows(world["admin"].headers)
    assert [(row["name"], row["email"], row["attempts"]) for row in everyone] == [
        ("Ana Agent", "ana@example.com", 3),
        ("Bob Agent", "bob@example.com", 2),
        ("Cara Agent", "cara@example.com", 3),
    ]
    # An agent: their own row only (emails compared in any case).
    assert await rows(_user_headers("bob", "Bob@Example.com", Role.AGENT)) == [everyone[1]]
    # An agent with no calls: no rows.
    assert await rows(_user_headers("dee", "dee@example.com", Role.AGENT)) == []
    # The tenant's client: every row, no emails.
    assert await rows(_user_headers("owner", "owner@example.com", Role.CLIENT)) == [
        {**row, "email": None} for row in everyone
    ]


async def test_agent_and_attempt_filters_and_export_columns(world) -> None:
    http, tenant, admin, leads = world["http"], world["tenant"], world["admin"], world["leads"]
    body = await graphql(
        http,
        "query ($t: ID!, $a: String!) { calls(tenantId: $t, filter: {agentId: $a}) "
        "{ edges { node { direction status startedAt } } } }",
        {"t": str(tenant.id), "a": str(BOB["id"])},
        user=admin,
    )
    assert [edge["node"]["status"] for edge in body["data"]["calls"]["edges"]] == [
        "VOICEMAIL",
        "COMPLETED",
        "NO_ANSWER",
    ]
    body = await graphql(
        http,
        "query ($t: ID!, $a: String!) { leads(tenantId: $t, filter: {attemptedBy: $a}) { edges { node { id } } } }",
        {"t": str(tenant.id), "a": str(CARA["id"])},
        user=admin,
    )
    # Cara dialled B, E and G (newest first).
    assert [edge["node"]["id"] for edge in body["data"]["leads"]["edges"]] == [
        leads["G"],
        leads["E"],
        leads["B"],
    ]
    body = await graphql(
        http,
        'query ($t: ID!) { leads(tenantId: $t, filter: {attemptedBy: ""}) { totalCount } }',
        {"t": str(tenant.id)},
        user=admin,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]

    answer = await http.get("/export/leads.csv", params={"tenantId": str(tenant.id)}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    by_id = {row["lead_id"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    columns = ("attempts", "attempts_to_contact", "first_attempt_agent_id", "first_attempt_agent_name")
    exported = {name: tuple(by_id[lead_id][column] for column in columns) for name, lead_id in leads.items()}
    assert exported == {
        "P": ("1", "1", str(ANA["id"]), "Ana Agent"),
        "A": ("1", "1", str(ANA["id"]), "Ana Agent"),
        "B": ("2", "2", str(BOB["id"]), "Bob Agent"),
        "C": ("1", "1", str(ANA["id"]), "Ana Agent"),
        "D": ("1", "1", str(BOB["id"]), "Bob Agent"),
        "E": ("2", "2", str(CARA["id"]), "Cara Agent"),
        "F": ("1", "1", str(ANA["id"]), "Ana Agent"),
        "G": ("1", "1", str(CARA["id"]), "Cara Agent"),
        "H": ("0", "0", "", ""),
    }
    answer = await http.get(
        "/export/calls.csv",
        params={"tenantId": str(tenant.id), "agentId": str(CARA["id"])},
        headers=admin.headers,
    )
    assert answer.status_code == 200, answer.text
    assert {row["agent_id"] for row in csv.DictReader(io.StringIO(answer.text))} == {str(CARA["id"])}


async def test_the_public_dashboard_shows_contacted_within_sla_and_missed_calls(world) -> None:
    http, tenant, admin = world["http"], world["tenant"], world["admin"]
    body = await graphql(
        http,
        "mutation ($t: ID!) { createPublicLink(tenantId: $t) { token } }",
        {"t": str(tenant.id)},
        user=admin,
    )
    token = body["data"]["createPublicLink"]["token"]
    body = await graphql(
        http,
        "query ($token: String!) { publicDashboard(token: $token) { metrics { leads "
        f"contactedWithinSla {{ {RATE} }} missedCalls {{ total calledBack {{ {RATE} }} callbackMedianSeconds }} }} }} }}",
        {"token": token},
    )
    # Its last 30 days hold every lead, P included: reached within the SLA A, B, D, F, G and P.
    assert body["data"]["publicDashboard"]["metrics"] == {
        "leads": 9,
        "contactedWithinSla": rate(6, 9),
        "missedCalls": {"total": 4, "calledBack": rate(3, 4), "callbackMedianSeconds": 3300},
    }


async def test_bad_settings_are_named_and_nothing_changes(client, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await make_user(Role.ADMIN)
    body = await graphql(
        client,
        SETTINGS,
        {
            "tenantId": str(tenant.id),
            "input": {
                "slaClock": "BUSINESS_HOURS",
                "holidays": [(date(2024, 1, 1) + timedelta(days=day)).isoformat() for day in range(401)],
                "sourceCosts": [{"source": "google", "costPerLead": -1}],
            },
        },
        user=admin,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    fields = body["errors"][0]["extensions"]["fields"]
    assert set(fields) == {"input.holidays", "input.sourceCosts"}
    body = await graphql(
        client,
        SETTINGS,
        {"tenantId": str(tenant.id), "input": {"sourceCosts": [{"source": "x" * 101, "costPerLead": 1}]}},
        user=admin,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await graphql(
        client,
        "query ($id: ID!) { tenant(id: $id) { settings { slaClock holidays sourceCosts { source } } } }",
        {"id": str(tenant.id)},
        user=admin,
    )
    assert body["data"]["tenant"]["settings"] == {"slaClock": "WALL", "holidays": [], "sourceCosts": []}
