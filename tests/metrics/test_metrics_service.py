"""The metrics use case on real PostgreSQL: batches, errors per key, pending SLAs, DST business hours."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.business_hours import parse_hours
from domain.errors import BadInput, Forbidden, NotFound
from domain.metrics import Metrics
from domain.roles import Principal, Role
from domain.tenants import TenantSettings
from services.deps import Deps
from services.metrics import MetricsKey, metrics_batch, tenant_metrics
from tests.metrics import dataset
from tests.metrics.dataset import utc
from tests.metrics.definitions import business_seconds

ADMIN = Principal(user_id="admin", email="admin@example.com", role=Role.ADMIN)


class NoPublisher:
    def committed(self, tenant_ids: Iterable[UUID]) -> None:
        raise AssertionError("reads publish nothing")


@pytest.fixture
def deps(engine, clock):
    return Deps(engine=engine, publisher=NoPublisher(), clock=clock, tokens=None)


async def test_a_batch_answers_each_key_with_its_own_tenant_and_range(deps, engine, make_tenant):
    acme = await make_tenant(timezone="America/New_York")
    other = await make_tenant(timezone="UTC")
    await dataset.load(engine, acme.id)
    await dataset.load(engine, other.id)
    friday_only = MetricsKey(acme.id, dataset.RANGE_FROM, dataset.RANGE_FROM + timedelta(days=1))
    keys = [
        MetricsKey(acme.id, dataset.RANGE_FROM, dataset.RANGE_TO),
        friday_only,
        MetricsKey(other.id, dataset.RANGE_FROM, dataset.RANGE_TO),
        MetricsKey(uuid4(), dataset.RANGE_FROM, dataset.RANGE_TO),
        MetricsKey(acme.id, dataset.RANGE_TO, dataset.RANGE_FROM),
    ]

    whole, friday, utc_tenant, unknown, backwards = await metrics_batch(deps, actor=ADMIN, keys=keys)

    assert isinstance(whole, Metrics)
    assert whole.leads == 9
    assert isinstance(friday, Metrics)
    assert friday.leads == 3
    assert [d.leads for d in friday.trend] == [3]
    # The same instants in a UTC tenant: the same 9 leads, on the UTC days of the range.
    assert isinstance(utc_tenant, Metrics)
    assert [day.day.isoformat() for day in utc_tenant.trend] == [
        "2024-03-08",
        "2024-03-09",
        "2024-03-10",
        "2024-03-11",
        "2024-03-12",
    ]
    assert isinstance(unknown, NotFound)
    assert isinstance(backwards, BadInput)
    assert backwards.fields == {"to": "must be after from"}


async def test_agents_and_clients_see_only_their_tenants(deps, make_tenant):
    mine = await make_tenant()
    theirs = await make_tenant()
    client = Principal(user_id="c", email="c@example.com", role=Role.CLIENT, tenant_ids=frozenset({mine.id}))

    assert (await tenant_metrics(deps, actor=client, tenant_id=mine.id)).leads == 0
    with pytest.raises(Forbidden):
        await tenant_metrics(deps, actor=client, tenant_id=theirs.id)


async def test_unattempted_leads_are_pending_until_the_sla_runs_out_in_open_hours(
    deps, engine, clock, make_tenant
):
    # Saturday 2024-03-16 12:00 New York: closed all weekend.
    clock.at = utc("2024-03-16T16:00")
    tenant = await make_tenant(timezone="America/New_York", settings=TenantSettings(sla_seconds=600))
    async with engine.begin() as connection:
        for minutes_ago in (5, 20):  # one inside the SLA, one past it
            contact = await dataset.insert_contact(connection, tenant.id, f"+120255501{minutes_ago:02d}")
            await dataset.insert_lead(
                connection, tenant.id, contact, clock.at - timedelta(minutes=minutes_ago)
            )

    metrics = await tenant_metrics(deps, actor=ADMIN, tenant_id=tenant.id)

    assert (metrics.speed_to_lead.unattempted_leads, metrics.speed_to_lead.within_sla) == (2, 0)
    assert metrics.speed_to_lead.breached == 1
    # No open second has passed since either lead arrived: nothing is breached in business hours.
    assert metrics.business_hours.breached == 0
    assert metrics.speed_to_lead.sla_seconds == 600
    assert metrics.speed_to_lead.median_seconds is None
    assert metrics.connection_rate.value is None
    assert metrics.booking_rate.value is None
    assert metrics.lead_response_rate.numerator == 0
    assert metrics.lead_response_rate.denominator == 2
    # Default range: the last 30 tenant days, today (Saturday the 16th) last.
    assert len(metrics.trend) == 30
    assert metrics.trend[-1].day.isoformat() == "2024-03-16"
    assert metrics.trend[-1].leads == 2
    assert metrics.range_to == utc("2024-03-17T04:00")


async def test_business_hours_count_real_seconds_across_both_dst_changes(deps, engine, clock, make_tenant):
    always_open = {
        day: ["00:00", "24:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    split_days = {"sunday": ["01:00", "04:00"], "saturday": ["22:00", "24:00"]}
    around_the_clock = await make_tenant(
        timezone="America/New_York", settings=TenantSettings(business_hours=always_open)
    )
    split = await make_tenant(timezone="America/New_York", settings=TenantSettings(business_hours=split_days))
    # Saturday noon EST to Monday noon EDT: 47 real hours, though the wall clock says 48.
    # Autumn: Saturday noon EDT to Monday noon EST: 49 real hours.
    pairs = [
        (utc("2024-03-09T17:00"), utc("2024-03-11T16:00")),
        (utc("2024-11-02T16:00"), utc("2024-11-04T17:00")),
    ]
    async with engine.begin() as connection:
        for tenant in (around_the_clock, split):
            for number, (created, attempted) in enumerate(pairs):
                contact = await dataset.insert_contact(connection, tenant.id, f"+12025550{number}99")
                await dataset.insert_lead(connection, tenant.id, contact, created, first_attempt_at=attempted)
    clock.at = utc("2024-12-01T00:00")

    spring, autumn = await metrics_batch(
        deps,
        actor=ADMIN,
        keys=[MetricsKey(around_the_clock.id, created, created + timedelta(hours=1)) for created, _ in pairs],
    )
    assert isinstance(spring, Metrics)
    assert isinstance(autumn, Metrics)
    assert spring.speed_to_lead.median_seconds == 47 * 3600
    assert spring.business_hours.median_seconds == 47 * 3600
    assert autumn.business_hours.median_seconds == 49 * 3600

    spring, autumn = await metrics_batch(
        deps,
        actor=ADMIN,
        keys=[MetricsKey(split.id, created, created + timedelta(hours=1)) for created, _ in pairs],
    )
    assert isinstance(spring, Metrics)
    assert isinstance(autumn, Metrics)
    # Saturday 22:00-24:00 (2 h) + Sunday 01:00-04:00 local, which lasts 2 h in March (02:00 is
    # skipped). In November 01:00 happens twice; like PostgreSQL's AT TIME ZONE we read it as the
    # later one (01:00 EST), so the interval lasts 3 h.
    assert spring.business_hours.median_seconds == (2 + 2) * 3600
    assert autumn.business_hours.median_seconds == (2 + 3) * 3600


async def test_sql_business_seconds_agree_with_the_python_definition(deps, engine, clock, make_tenant):
    hours = {
        "monday": ["08:00", "12:00", "13:00", "18:00"],
        "tuesday": ["00:00", "24:00"],
        "friday": ["09:00", "17:30"],
        "saturday": ["01:30", "02:30", "22:00", "24:00"],
        "sunday": ["00:00", "03:00"],
    }
    zones = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]
    tenants = [
        await make_tenant(timezone=zone, settings=TenantSettings(business_hours=hours)) for zone in zones
    ]
    rng = random.Random(8)
    # Instants near the 2024 DST changes of these zones, and anywhere in the year.
    anchors = [
        utc("2024-03-10T07:00"),
        utc("2024-03-31T01:00"),
        utc("2024-04-06T16:00"),
        utc("2024-10-05T16:00"),
        utc("2024-10-27T01:00"),
        utc("2024-11-03T06:00"),
    ]
    cases = []
    async with engine.begin() as connection:
        for number in range(60):
            tenant = tenants[number % len(tenants)]
            base = (
                rng.choice(anchors)
                if number % 3
                else utc("2024-01-01T00:00") + timedelta(days=rng.uniform(0, 360))
            )
            created = base + timedelta(seconds=rng.randint(-3 * 86400, 86400))
            attempted = created + timedelta(
                seconds=rng.choice([rng.randint(0, 7200), rng.randint(0, 5 * 86400)])
            )
            contact = await dataset.insert_contact(connection, tenant.id, f"+1202556{number:04d}")
            await dataset.insert_lead(connection, tenant.id, contact, created, first_attempt_at=attempted)
            cases.append((tenant, created, attempted))
    clock.at = utc("2025-01-01T00:00")

    answers = await metrics_batch(
        deps,
        actor=ADMIN,
        keys=[MetricsKey(t.id, created, created + timedelta(microseconds=1)) for t, created, _ in cases],
    )

    parsed = parse_hours(hours)
    for (tenant, created, attempted), metrics in zip(cases, answers, strict=True):
        assert isinstance(metrics, Metrics)
        assert metrics.leads == 1
        expected = business_seconds(created, attempted, tenant.tenant.timezone, parsed)
        assert metrics.business_hours.median_seconds == pytest.approx(expected, abs=1e-6), (
            tenant.tenant.timezone,
            created,
            attempted,
        )


async def test_one_bound_given(deps, make_tenant):
    tenant = await make_tenant(timezone="America/New_York")

    only_to = await tenant_metrics(deps, actor=ADMIN, tenant_id=tenant.id, range_to=dataset.RANGE_TO)
    only_from = await tenant_metrics(deps, actor=ADMIN, tenant_id=tenant.id, range_from=dataset.RANGE_FROM)

    # The 30 tenant days before `to` (Tuesday 2024-03-12 00:00 EDT): from 2024-02-11 00:00 EST.
    assert (only_to.range_from, only_to.range_to) == (utc("2024-02-11T05:00"), dataset.RANGE_TO)
    assert len(only_to.trend) == 30
    # From `from` to the end of the clock's today (2024-03-20 in New York).
    assert only_from.range_to == utc("2024-03-21T04:00")
    assert only_from.trend[-1].day.isoformat() == "2024-03-20"
    with pytest.raises(BadInput):
        await tenant_metrics(deps, actor=ADMIN, tenant_id=tenant.id, range_to=datetime(2024, 3, 1))
