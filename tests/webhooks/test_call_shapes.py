"""Real Dialpad call shapes over real HTTP: every order of arrival (sampled when there are many), with one
redelivery, gives the customer call, the leads and the tenant's metrics worked out by hand in
`call_shapes.py`; at an ordinary time, across the DST change and across a local midnight."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import graphql, serve
from tests.dialpad_samples import sign
from tests.webhooks import call_shapes
from tests.webhooks.call_shapes import PERSON, Shape
from tests.webhooks.test_dialpad import SECRET, insert_lead, row, rows

NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)
RANGE = {"from": "2024-03-04T00:00:00-05:00", "to": "2024-03-12T00:00:00-04:00"}
# Orders tried per shape: all of them up to this many, else this many sampled (first and reversed included).
MAX_ORDERS = 8


@dataclass(frozen=True)
class Base:
    """Where a shape happens: its base instant, and the tenant days (America/New_York) of its
    leads (created before the base) and of its calls (started at the base), by hand."""

    name: str
    at: datetime
    lead_day: str
    call_day: str


BASES = [
    Base("an ordinary Wednesday", datetime(2024, 3, 6, 15, tzinfo=UTC), "2024-03-06", "2024-03-06"),
    # 03:00 EDT, the instant the clocks jumped: leads (up to an hour before) are 00:59-01:59 EST, same day.
    Base("the DST change", datetime(2024, 3, 10, 7, tzinfo=UTC), "2024-03-10", "2024-03-10"),
    # Saturday 00:00 EST: the leads are Friday's, the calls Saturday's.
    Base("a local midnight", datetime(2024, 3, 9, 5, tzinfo=UTC), "2024-03-08", "2024-03-09"),
]


class Clock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
async def http(make_app) -> AsyncIterator[httpx.AsyncClient]:
    """The app under a real uvicorn, its clock at NOW, and an HTTP client to it."""
    async with serve(make_app(clock=Clock())) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        yield client


def orders(events: list[dict[str, Any]], seed: str) -> Iterator[list[dict[str, Any]]]:
    """Every order of arrival, or MAX_ORDERS of them (as given, reversed and random ones)."""
    count = 1
    for size in range(2, len(events) + 1):
        count *= size
    if count <= MAX_ORDERS:
        yield from (list(order) for order in itertools.permutations(events))
        return
    yield list(events)
    yield list(reversed(events))
    rng = random.Random(seed)
    for _ in range(MAX_ORDERS - 2):
        shuffled = list(events)
        rng.shuffle(shuffled)
        yield shuffled


METRICS = """
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {
  metrics(tenantId: $tenantId, from: $from, to: $to) {
    leads
    speedToLead { attemptedLeads unattemptedLeads medianSeconds withinSla breached }
    connectionRate { numerator denominator } bookingRate { numerator denominator }
    leadResponseRate { numerator denominator }
    trend { day leads calls connected booked medianSpeedSeconds }
  }
}
"""


def pair(rate: dict[str, int]) -> tuple[int, int]:
    return (rate["numerator"], rate["denominator"])


def _at(base: Base, offset: float | None) -> datetime | None:
    return None if offset is None else base.at + timedelta(seconds=offset)


async def _check(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    make_tenant: Any,
    admin: Any,
    shape: Shape,
    base: Base,
    order: list[dict[str, Any]],
    number: int,
) -> None:
    tenant = await make_tenant(timezone="America/New_York")
    where = f"{shape.name} at {base.name}, order {number}: {[(e['call_id'], e['state']) for e in order]}"
    lead_ids = []
    for lead in shape.leads:
        _, lead_id = await insert_lead(
            engine, tenant.id, lead.phone, base.at + timedelta(seconds=lead.created)
        )
        lead_ids.append(lead_id)
    # One redelivery: the middle event again, right after itself.
    middle = len(order) // 2
    deliveries = [*order[: middle + 1], order[middle], *order[middle + 1 :]]
    answers = [
        await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(event, SECRET))
        for event in deliveries
    ]
    assert [answer.status_code for answer in answers] == [200] * len(deliveries), (
        where,
        [a.text for a in answers],
    )
    assert [answer.json()["duplicate"] for answer in answers].count(True) == 1, where

    expected = shape.call
    call = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t AND is_primary_leg", t=tenant.id)
    assert call is not None, where
    got = (
        call["external_id"],
        call["status"],
        call["direction"],
        call["agent_id"],
        call["connected_at"],
        call["booked"],
    )
    assert got == (
        expected.primary,
        expected.status,
        expected.direction,
        expected.agent_id,
        _at(base, expected.connected),
        expected.booked,
    ), where
    legs = await rows(
        engine,
        "SELECT external_id, customer_call_key, is_primary_leg FROM calls WHERE tenant_id = :t AND event_count > 0",
        t=tenant.id,
    )
    assert len(legs) == expected.legs, (where, legs)
    assert {leg["customer_call_key"] for leg in legs} == {expected.primary}, where
    assert sum(leg["is_primary_leg"] for leg in legs) == 1, where

    for lead_id, lead in zip(lead_ids, shape.leads, strict=True):
        stored = await row(
            engine,
            "SELECT status, first_attempt_at, first_connected_at FROM leads WHERE id = :id",
            id=lead_id,
        )
        assert stored == {
            "status": lead.status,
            "first_attempt_at": _at(base, lead.attempt),
            "first_connected_at": _at(base, lead.connected),
        }, where

    figures = shape.metrics
    assert figures is not None
    body = await graphql(http, METRICS, {"tenantId": str(tenant.id), **RANGE}, user=admin)
    assert "errors" not in body, body
    metrics = body["data"]["metrics"]
    assert metrics["leads"] == len(shape.leads), where
    assert (
        pair(metrics["connectionRate"]),
        pair(metrics["bookingRate"]),
        pair(metrics["leadResponseRate"]),
    ) == (figures.connection, figures.booking, figures.response), where
    speed = metrics["speedToLead"]
    assert (
        speed["attemptedLeads"],
        speed["unattemptedLeads"],
        speed["medianSeconds"],
        speed["withinSla"],
        speed["breached"],
    ) == (
        figures.attempted,
        figures.unattempted,
        figures.median_speed,
        figures.within_sla,
        figures.breached,
    ), where
    trend = {day["day"]: day for day in metrics["trend"] if day["leads"] or day["calls"]}
    connected = int(expected.connected is not None)
    days: dict[str, dict[str, Any]] = {}
    for day in (base.lead_day, base.call_day):
        days[day] = {
            "day": day,
            "leads": 0,
            "calls": 0,
            "connected": 0,
            "booked": 0,
            "medianSpeedSeconds": None,
        }
    days[base.lead_day].update(leads=len(shape.leads), medianSpeedSeconds=figures.median_speed)
    days[base.call_day].update(calls=1, connected=connected, booked=int(expected.booked and bool(connected)))
    assert trend == days, where


@pytest.mark.parametrize("base", BASES, ids=[base.name for base in BASES])
async def test_every_shape_in_every_order_gives_the_hand_computed_call_leads_and_metrics(
    http, engine, make_tenant, make_user, base
):
    admin = await make_user("admin")
    base_ms = int(base.at.timestamp() * 1000)
    for shape in call_shapes.library(base_ms):
        for number, order in enumerate(orders(shape.events, shape.name)):
            await _check(http, engine, make_tenant, admin, shape, base, order, number)


async def test_a_leg_whose_customer_call_is_elsewhere_counts_once_in_the_calls_list(
    http, engine, make_tenant, make_user
):
    """The calls list shows customer calls; `legs: true` shows every leg that has events."""
    tenant = await make_tenant(timezone="America/New_York")
    admin = await make_user("admin")
    base_ms = int(BASES[0].at.timestamp() * 1000)
    shape = call_shapes.department_ivr(base_ms, with_root=True)
    for event in shape.events:
        answer = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(event, SECRET))
        assert answer.status_code == 200
    query = """
    query ($legs: Boolean) { calls(first: 10, filter: {legs: $legs}) {
        totalCount edges { node { externalId status isPrimaryLeg legs { externalId status agent { name } } } } } }
    """
    customer = (await graphql(http, query, {"legs": False}, user=admin))["data"]["calls"]
    assert customer["totalCount"] == 1
    node = customer["edges"][0]["node"]
    assert (node["externalId"], node["status"], node["isPrimaryLeg"]) == ("6001", "COMPLETED", True)
    # The primary leg's row is the customer call; the others keep their own leg's record.
    assert [(leg["externalId"], leg["status"]) for leg in node["legs"]] == [
        ("6001", "COMPLETED"),
        ("6002", "COMPLETED"),
        ("6003", "COMPLETED"),
    ]
    assert node["legs"][2]["agent"]["name"] == "Cara Agent"
    every = (await graphql(http, query, {"legs": True}, user=admin))["data"]["calls"]
    assert every["totalCount"] == 3
    # The CSV export counts customer calls too: a header and one row.
    csv = await http.get("/export/calls.csv", params={"tenantId": str(tenant.id)}, headers=admin.headers)
    assert csv.status_code == 200
    lines = csv.text.strip().splitlines()
    assert len(lines) == 2
    assert "6001" in lines[1]


async def test_two_people_in_one_tenant_do_not_share_a_customer_call(http, engine, make_tenant):
    tenant = await make_tenant(timezone="America/New_York")
    base_ms = int(BASES[0].at.timestamp() * 1000)
    first = call_shapes.outbound_booked(base_ms).events
    second = [
        event | {"call_id": 3002, "external_number": call_shapes.OTHER_PERSON}
        for event in call_shapes.outbound_cancelled(base_ms).events
    ]
    for event in [*first, *second]:
        answer = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(event, SECRET))
        assert answer.status_code == 200
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                text("SELECT external_id, status, is_primary_leg FROM calls WHERE tenant_id = :t ORDER BY 1"),
                {"t": tenant.id},
            )
        ).all()
    assert [tuple(found_row) for found_row in found] == [
        ("3001", "completed", True),
        ("3002", "no_answer", True),
    ]


CALL_COLUMNS = (
    "external_id, direction, status, agent_id, master_call_id, entry_point_call_id, operator_call_id, "
    "customer_call_key, is_primary_leg, linked, started_at, connected_at, ended_at, duration_seconds, "
    "recording_url, voicemail_url, voicemail, disposition, booked, contact_id, lead_id"
)


async def test_the_migration_recomputes_old_rows_into_what_the_webhook_writes_now(http, engine, make_tenant):
    """Rows as the old rules left them (root legs primary, IVR pick-ups connected, one lead per call,
    no operator links) are recomputed from call_events into exactly what the webhook writes today."""
    from persistence.recompute_calls import recompute_all

    tenant = await make_tenant(timezone="America/New_York")
    base = BASES[0]
    base_ms = int(base.at.timestamp() * 1000)
    for number, shape in enumerate(call_shapes.library(base_ms)):
        # Each shape with its own person (numbers differ), calls ids apart.
        phone = f"+1202555{3000 + number:04d}"
        for lead in shape.leads:
            await insert_lead(
                engine, tenant.id, phone, base.at + timedelta(seconds=lead.created) + timedelta(hours=number)
            )
        for event in shape.events:
            moved = _moved(event, number, phone)
            answer = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(moved, SECRET))
            assert answer.status_code == 200
    calls_sql = f"SELECT {CALL_COLUMNS} FROM calls WHERE tenant_id = :t ORDER BY external_id"
    leads_sql = (
        "SELECT id, status, first_attempt_at, first_connected_at FROM leads WHERE tenant_id = :t ORDER BY id"
    )
    now_calls = await rows(engine, calls_sql, t=tenant.id)
    now_leads = await rows(engine, leads_sql, t=tenant.id)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE calls SET customer_call_key = coalesce(entry_point_call_id, master_call_id, external_id),"
                " is_primary_leg = external_id = coalesce(entry_point_call_id, master_call_id, external_id),"
                " linked = false, operator_call_id = NULL, status = 'completed', connected_at = started_at,"
                " booked = false, lead_id = NULL WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
        await connection.execute(
            text(
                "UPDATE leads SET status = 'new', first_attempt_at = NULL, first_connected_at = NULL WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    assert await rows(engine, calls_sql, t=tenant.id) != now_calls
    async with engine.begin() as connection:
        await connection.run_sync(recompute_all)
    assert await rows(engine, calls_sql, t=tenant.id) == now_calls
    # Booked leads stay booked (statuses only move forward); the rest match.
    recomputed = await rows(engine, leads_sql, t=tenant.id)
    for before, after in zip(now_leads, recomputed, strict=True):
        expected = before if before["status"] != "booked" else before | {"status": "contacted"}
        assert after == expected


def _moved(event: dict[str, Any], number: int, phone: str) -> dict[str, Any]:
    """The event as the `number`th shape's, `number` hours later, with its own person and call ids."""

    def call_id(value: Any) -> Any:
        return None if value is None else value + 100_000 * number

    shift = 3_600_000 * number
    moved = dict(event)
    for key in ("call_id", "master_call_id", "entry_point_call_id", "operator_call_id"):
        moved[key] = call_id(event[key])
    for key in ("event_timestamp", "date_started", "date_rang", "date_connected", "date_ended"):
        moved[key] = None if event[key] is None else event[key] + shift
    moved["external_number"] = phone
    return moved


async def test_legs_of_one_customer_call_posted_at_once_make_the_same_customer_call(
    http, engine, make_tenant
):
    """Every event of three-legged calls at the same time, twice over: the customer's events apply one
    after the other (its advisory lock), so no leg misses another and nothing is counted twice."""
    import asyncio

    base = BASES[0]
    base_ms = int(base.at.timestamp() * 1000)
    for shape in (call_shapes.department_ivr(base_ms, with_root=True), call_shapes.transfer(base_ms)):
        tenant = await make_tenant(timezone="America/New_York")
        _, lead_id = await insert_lead(
            engine, tenant.id, PERSON, base.at + timedelta(seconds=shape.leads[0].created)
        )
        bodies = [sign(event, SECRET) for event in shape.events] * 2
        answers = await asyncio.gather(
            *(http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=body) for body in bodies)
        )
        assert [answer.status_code for answer in answers] == [200] * len(bodies)
        assert sum(answer.json()["duplicate"] for answer in answers) == len(shape.events)
        call = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t AND is_primary_leg", t=tenant.id)
        assert call is not None
        expected = shape.call
        assert (
            call["external_id"],
            call["status"],
            call["agent_id"],
            call["connected_at"],
            call["booked"],
        ) == (
            expected.primary,
            expected.status,
            expected.agent_id,
            _at(base, expected.connected),
            expected.booked,
        ), shape.name
        keys = await rows(
            engine, "SELECT DISTINCT customer_call_key FROM calls WHERE tenant_id = :t", t=tenant.id
        )
        assert keys == [{"customer_call_key": expected.primary}]
        lead = await row(engine, "SELECT status, first_connected_at FROM leads WHERE id = :id", id=lead_id)
        assert lead == {
            "status": shape.leads[0].status,
            "first_connected_at": _at(base, shape.leads[0].connected),
        }
