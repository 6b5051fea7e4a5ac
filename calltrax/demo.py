"""`calltrax demo`: a realistic data set made through the real use cases, so its numbers mean something.

Three tenants in different timezones are provisioned (simulated Dialpad), leads arrive through
`ingest_lead` at their historical times (an injected clock), and calls arrive as signed Dialpad
events through `apply_call_event`: the same code paths production traffic takes, so the derived
lead facts, statuses, events and metrics are exactly what real traffic would produce.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from calltrax.simulate import call_events, lead_payload, phone_number, sign
from calltrax.simulated_dialpad import SimulatedDialpad
from domain.business_hours import WeeklyHours, next_open, parse_hours
from domain.lead_intake import parse_lead
from domain.phones import region_for_timezone
from persistence import dialpad_company as company_store
from persistence import tenants as tenant_store
from services.deps import Deps
from services.ingest_lead import ingest_lead
from services.provision_client import provision_client
from services.route_call_event import receive_company_event

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


@dataclass(frozen=True)
class DemoTenant:
    name: str
    slug: str
    timezone: str
    # Share of all demo leads.
    weight: float
    # Its business hours (Dialpad's format); its agents call in them, as the metrics assume.
    hours: dict[str, list[str]]


DEMO_TENANTS = (
    DemoTenant(
        "Sunrise Solar",
        "demo-sunrise-solar",
        "Australia/Perth",
        0.45,
        {**{day: ["08:30", "17:30"] for day in WEEKDAYS}, "saturday": ["09:00", "13:00"]},
    ),
    DemoTenant(
        "Brightside Dental",
        "demo-brightside-dental",
        "America/New_York",
        0.35,
        {day: ["08:00", "12:30", "13:30", "18:00"] for day in WEEKDAYS},
    ),
    DemoTenant(
        "Harbour Legal",
        "demo-harbour-legal",
        "Europe/London",
        0.20,
        {day: ["09:00", "17:00"] for day in WEEKDAYS},
    ),
)

# How the demo agency works its leads.
ATTEMPT_PROBABILITY = 0.9
MAX_ATTEMPTS = 5
CONNECT_PROBABILITY = 0.3
BOOK_PROBABILITY = 0.35
INBOUND_PROBABILITY = 0.45
# Now and then an agent calls a lead outside business hours (a late shift, a keen closer).
AFTER_HOURS_ATTEMPT_PROBABILITY = 0.05
CONCURRENCY = 8

Progress = Callable[[str], None]


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class Plan:
    """One lead and the calls that will follow it (start times in epoch ms, with their outcome)."""

    received_at: datetime
    payload: dict[str, object]
    phone: str
    calls: list[tuple[int, str]]


def _attempt_time(rng: random.Random, moment: datetime, tenant: DemoTenant, hours: WeeklyHours) -> datetime:
    """When an agent calls a lead that is due at `moment`: then if the tenant is open, else a few
    minutes after it next opens (working through the overnight queue); rarely, after hours anyway."""
    if rng.random() < AFTER_HOURS_ATTEMPT_PROBABILITY:
        return moment
    opens = next_open(moment, tenant.timezone, hours)
    if opens is None or opens == moment:
        return moment
    return opens + timedelta(seconds=rng.uniform(60, 45 * 60))


def plan_tenant(
    rng: random.Random, tenant: DemoTenant, *, leads: int, days: int, now: datetime
) -> list[Plan]:
    """Leads spread over `days` (busier in the tenant's daytime, some after hours) and their attempts
    in the tenant's business hours, oldest first."""
    zone = ZoneInfo(tenant.timezone)
    hours = parse_hours(tenant.hours)
    region = region_for_timezone(tenant.timezone)
    plans: list[Plan] = []
    start = now - timedelta(days=days)
    for _ in range(leads):
        while True:
            moment = start + timedelta(seconds=rng.uniform(0, days * 86_400))
            hour = moment.astimezone(zone).hour
            # Leads come mostly between 07:00 and 22:00 local.
            if 7 <= hour < 22 or rng.random() < 0.15:
                break
        phone = phone_number(rng, region)
        calls: list[tuple[int, str]] = []
        if rng.random() < ATTEMPT_PROBABILITY:
            # Minutes when the team is in; otherwise the next opening. Log-normal: most fast, some slow.
            delay = timedelta(seconds=min(rng.lognormvariate(math.log(240), 1.1), 6 * 3600))
            attempt = _attempt_time(rng, moment + delay, tenant, hours)
            for _ in range(MAX_ATTEMPTS):
                if attempt >= now:
                    break
                connected = rng.random() < CONNECT_PROBABILITY
                booked = connected and rng.random() < BOOK_PROBABILITY
                outcome = "booked" if booked else "connected" if connected else "no_answer"
                calls.append((int(attempt.timestamp() * 1000), outcome))
                if connected:
                    break
                attempt = _attempt_time(rng, attempt + timedelta(hours=rng.uniform(2, 30)), tenant, hours)
        if rng.random() < INBOUND_PROBABILITY:
            inbound = moment + timedelta(hours=rng.uniform(0.5, 72))
            if inbound < now:
                calls.append((int(inbound.timestamp() * 1000), rng.choice(("missed_inbound", "voicemail"))))
        payload = lead_payload(rng, phone)
        payload.pop("external_id", None)
        payload["source"] = rng.choice(("facebook", "google", "website", "referral", "gohighlevel"))
        plans.append(Plan(received_at=moment, payload=payload, phone=phone, calls=calls))
    plans.sort(key=lambda plan: plan.received_at)
    return plans


async def _bounded(jobs: Iterable[Callable[[], Awaitable[None]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))


async def load_demo(
    deps: Deps,
    *,
    progress: Progress,
    leads: int = 2000,
    calls_wanted: int = 6000,
    days: int = 60,
    seed: int = 7,
    now: datetime | None = None,
) -> dict[str, int]:
    """Provision the demo tenants and replay their history; returns counts. Refuses to load twice."""
    rng = random.Random(seed)
    now = now or deps.clock.now()
    async with deps.reader() as connection:
        existing = [
            tenant.slug
            for tenant in DEMO_TENANTS
            if await tenant_store.get_tenant_by_slug(connection, tenant.slug) is not None
        ]
    if existing:
        raise FileExistsError(f"the demo is already loaded (tenant {existing[0]} exists)")
    # Demo tenants never touch a real Dialpad account.
    deps = replace(deps, dialpad=SimulatedDialpad())
    totals = {"tenants": 0, "leads": 0, "calls": 0, "events": 0}
    shares = [int(leads * tenant.weight) for tenant in DEMO_TENANTS]
    # The remainder of the split goes to the first tenant, so the counts add up to `leads` exactly.
    shares[0] += leads - sum(shares)
    plans_by_tenant = {
        tenant.slug: plan_tenant(rng, tenant, leads=share, days=days, now=now)
        for tenant, share in zip(DEMO_TENANTS, shares, strict=True)
    }
    planned_calls = sum(len(plan.calls) for plans in plans_by_tenant.values() for plan in plans)
    # Scale the agency's effort so the data set has about the number of calls asked for.
    stretch = calls_wanted / planned_calls if planned_calls else 1.0
    progress(
        f"demo: {leads} leads and about {calls_wanted} calls over {days} days in {len(DEMO_TENANTS)} tenants"
    )
    for tenant in DEMO_TENANTS:
        counts = await _load_tenant(deps, rng, tenant, plans_by_tenant[tenant.slug], stretch, progress)
        totals["tenants"] += 1
        for key, value in counts.items():
            totals[key] += value
    return totals


async def _load_tenant(
    deps: Deps, rng: random.Random, tenant: DemoTenant, plans: list[Plan], stretch: float, progress: Progress
) -> dict[str, int]:
    """Provision one demo tenant, then replay its leads and their calls; returns its counts."""
    provisioned = await provision_client(
        deps,
        actor=None,
        name=tenant.name,
        timezone=tenant.timezone,
        slug=tenant.slug,
        business_hours=dict(tenant.hours),
    )
    call_center = provisioned.tenant.dialpad_call_center_id
    assert call_center is not None
    async with deps.reader() as connection:
        company = await company_store.get_company(connection)
    assert company is not None  # provisioning set up the company endpoint
    secret = company.secret
    async with deps.reader() as connection:
        hooks = (await tenant_store.list_lead_webhooks(connection, [provisioned.tenant.id]))[
            provisioned.tenant.id
        ]
    token = hooks[0].token
    line = phone_number(rng, region_for_timezone(tenant.timezone))
    counts = {"leads": 0, "calls": 0, "events": 0}

    async def add_lead(plan: Plan) -> None:
        payload = dict(plan.payload)
        await ingest_lead(
            replace(deps, clock=FixedClock(plan.received_at)),
            token=token,
            lead=parse_lead(payload),
            raw_data=payload,
        )
        counts["leads"] += 1
        if counts["leads"] % 200 == 0 or counts["leads"] == len(plans):
            progress(f"demo: {tenant.name}: {counts['leads']}/{len(plans)} leads")

    await _bounded((functools.partial(add_lead, plan) for plan in plans), CONCURRENCY)

    call_plans = [
        (plan.phone, start_ms, outcome)
        for plan in plans
        for start_ms, outcome in plan.calls
        if stretch >= 1 or rng.random() < stretch
    ]

    async def add_call(phone: str, start_ms: int, outcome: str) -> None:
        events = call_events(
            rng,
            call_id=7_000_000_000_000_000 + rng.getrandbits(48),
            customer=phone,
            line=line,
            start_ms=start_ms,
            outcome=outcome,
        )
        # A call's events in order; calls run concurrently, as they do in a busy contact center.
        for claims in events:
            # Through the company endpoint, as Dialpad delivers them: the call center names the tenant.
            claims = claims | {"proxy_target": {"id": int(call_center), "type": "callcenter"}}
            await receive_company_event(deps, body=sign(claims, secret))
        counts["events"] += len(events)
        counts["calls"] += 1
        if counts["calls"] % 500 == 0 or counts["calls"] == len(call_plans):
            progress(f"demo: {tenant.name}: {counts['calls']}/{len(call_plans)} calls")

    await _bounded((functools.partial(add_call, *call) for call in call_plans), CONCURRENCY)
    return counts
