"""`calltrax simulate`: realistic leads and signed Dialpad call events, posted to a running server.

Leads go to the tenant's lead webhook; then calls to those leads (and a few inbound calls from
strangers) go to `/webhooks/dialpad/{slug}` as Dialpad would send them: HS256 JWT bodies in
Dialpad's real format, some delivered twice and some out of order. Feeds demos and benchmarks.

Calls follow their leads and are never stamped in the future: their timeline starts once the leads
are posted and is compressed to fit the run (at `--rate`, a few seconds), and each event is posted
once its time has come (a late redelivery or an out-of-order event arrives after it happened).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from domain.phones import region_for_timezone
from persistence import dialpad_company as company_store
from persistence import tenants as tenant_store
from persistence.db import create_engine

FIRST_NAMES = ("Olivia", "Jack", "Mia", "Noah", "Ava", "Liam", "Chloe", "Lucas", "Grace", "Ethan")
LAST_NAMES = ("Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Walker", "Hall", "Young")
CITIES = ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Hobart")
SOURCES = ("facebook", "google", "website", "referral")
AGENTS = (
    ("5821975242293248", "Ana Agent"),
    ("5821975242293249", "Ben Caller"),
    ("5821975242293250", "Cy Dialer"),
)
# Outcomes of a simulated call and how often they happen.
OUTCOMES = (
    ("booked", 0.15),
    ("connected", 0.2),
    ("no_answer", 0.25),
    ("missed_inbound", 0.05),
    ("voicemail", 0.05),
    # Several legs per customer call (docs/dialpad.md): the call center's and the agent's, a
    # transfer to a second agent, a caller who hangs up in the call center's queue.
    ("inbound_answered", 0.15),
    ("transfer", 0.05),
    ("queue_abandon", 0.1),
)
_MULTI_LEG = ("inbound_answered", "transfer", "queue_abandon")


@dataclass(frozen=True)
class Credentials:
    """What posting to a tenant needs: its lead webhook token and Dialpad webhook secret."""

    slug: str
    lead_token: str | None
    dialpad_secret: str
    region: str | None
    # Tenants without a secret of their own get the company endpoint, their calls on their call center.
    events_path: str = ""
    call_center_id: str | None = None

    @property
    def path(self) -> str:
        return self.events_path or f"/webhooks/dialpad/{self.slug}"


@dataclass
class Report:
    leads_sent: int = 0
    leads_failed: int = 0
    events_sent: int = 0
    unique_events: int = 0
    duplicates_sent: int = 0
    events_failed: int = 0
    failures: dict[int, int] = field(default_factory=dict)


async def load_credentials(database_url: str, slug: str) -> Credentials:
    """The tenant's active lead webhook token and Dialpad secret, read from the database."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            tenant = await tenant_store.get_tenant_by_slug(connection, slug)
            if tenant is None:
                raise LookupError(f"no tenant with slug {slug!r}")
            secret, path = tenant.dialpad_webhook_secret, ""
            if not secret:
                company = await company_store.get_company(connection)
                secret, path = (company.secret if company else None), "/webhooks/dialpad"
            if not secret:
                raise LookupError(
                    f"tenant {slug!r} has no Dialpad webhook secret and no company one is set up"
                )
            hooks = (await tenant_store.list_lead_webhooks(connection, [tenant.id]))[tenant.id]
    finally:
        await engine.dispose()
    active = [hook for hook in hooks if hook.active]
    return Credentials(
        slug=slug,
        lead_token=active[-1].token if active else None,
        dialpad_secret=secret,
        region=tenant.settings.default_region or region_for_timezone(tenant.timezone),
        events_path=path,
        call_center_id=tenant.dialpad_call_center_id if path else None,
    )


def phone_number(rng: random.Random, region: str | None) -> str:
    """A plausible mobile number in E.164 for the tenant's region."""
    if region == "US" or region == "CA":
        return f"+1212555{rng.randrange(10_000):04d}"
    if region == "GB":
        return f"+447700900{rng.randrange(1000):03d}"
    if region == "NZ":
        return f"+6421{rng.randrange(10_000_000):07d}"
    return f"+614{rng.randrange(100_000_000):08d}"


def lead_payload(rng: random.Random, phone: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "name": f"{first} {last}",
        "phone": phone,
        "email": f"{first}.{last}.{rng.randrange(10_000)}@example.com".lower(),
        "source": rng.choice(SOURCES),
        "city": rng.choice(CITIES),
        "notes": "Simulated lead",
        "external_id": str(uuid.UUID(int=rng.getrandbits(128))),
    }


def call_events(
    rng: random.Random, *, call_id: int, customer: str, line: str, start_ms: int, outcome: str
) -> list[dict[str, Any]]:
    """One call's events in Dialpad's real format, in the order they happened."""
    if outcome in _MULTI_LEG:
        return _legs(rng, call_id=call_id, customer=customer, line=line, start_ms=start_ms, outcome=outcome)
    agent_id, agent_name = rng.choice(AGENTS)
    inbound = outcome in ("missed_inbound", "voicemail")
    base: dict[str, Any] = {
        "call_id": call_id,
        "master_call_id": None,
        "entry_point_call_id": None,
        "direction": "inbound" if inbound else "outbound",
        "date_started": start_ms,
        "date_connected": None,
        "date_ended": None,
        "duration": 0,
        "external_number": customer,
        "internal_number": line,
        "contact": {"id": call_id + 1, "name": customer, "phone": customer, "type": "local"},
        "target": (
            {"id": 4716644561813504, "name": "Call center", "phone": line, "type": "callcenter"}
            if inbound
            else {"id": int(agent_id), "name": agent_name, "phone": line, "type": "user"}
        ),
        "recording_details": [],
    }
    ring = start_ms + rng.randrange(200, 1500)
    events = [base | {"state": "ringing" if inbound else "calling", "event_timestamp": ring}]
    if outcome in ("booked", "connected"):
        connected = start_ms + rng.randrange(3_000, 20_000)
        talk = rng.randrange(20_000, 600_000)
        ended = connected + talk
        recording = [
            {
                "id": str(call_id),
                "recording_type": "callrecording",
                "url": f"https://dialpad.com/recordings/{call_id}",
                "duration": talk,
                "start_time": connected,
            }
        ]
        events.append(
            base | {"state": "connected", "event_timestamp": connected, "date_connected": connected}
        )
        done = base | {"date_connected": connected, "date_ended": ended, "duration": float(talk)}
        events.append(
            done | {"state": "hangup", "event_timestamp": ended + 300, "recording_details": recording}
        )
        disposition = "Sales~Demo booked" if outcome == "booked" else "Sales~Follow up"
        events.append(
            done
            | {
                "state": "dispositions",
                "event_timestamp": ended + rng.randrange(5_000, 60_000),
                "recording_details": recording,
                "call_dispositions": disposition,
            }
        )
    else:
        ended = start_ms + rng.randrange(15_000, 45_000)
        state = "missed" if inbound else "hangup"
        events.append(base | {"state": state, "event_timestamp": ended + 90, "date_ended": ended})
        if outcome == "voicemail":
            link = f"https://dialpad.com/voicemail/{call_id}"
            events.append(
                base
                | {
                    "state": "voicemail_uploaded",
                    "event_timestamp": ended + 6_000,
                    "date_ended": ended,
                    "voicemail_link": link,
                }
            )
    return events


def _legs(
    rng: random.Random, *, call_id: int, customer: str, line: str, start_ms: int, outcome: str
) -> list[dict[str, Any]]:
    """A customer call of several legs: the call center's leg (`call_id`), the answering agent's
    (`call_id + 1`, entry point = the call center's) and, for a transfer, the second agent's
    (`call_id + 2`, master = the first agent's)."""
    (first_id, first_name), (second_id, second_name) = rng.sample(AGENTS, 2)

    def leg(leg_id: int, target: dict[str, Any], **links: Any) -> dict[str, Any]:
        return {
            "call_id": leg_id,
            "master_call_id": links.get("master"),
            "entry_point_call_id": links.get("entry_point"),
            "operator_call_id": links.get("operator"),
            "direction": "inbound",
            "date_started": start_ms,
            "date_connected": None,
            "date_ended": None,
            "duration": 0,
            "talk_time": 0,
            "external_number": customer,
            "internal_number": line,
            "contact": {"id": call_id + 9, "name": customer, "phone": customer, "type": "local"},
            "target": target,
            "recording_details": [],
        }

    center = {"id": 4716644561813504, "name": "Call center", "phone": line, "type": "callcenter"}
    ring = start_ms + rng.randrange(200, 1500)
    if outcome == "queue_abandon":
        cc = leg(call_id, center)
        ended = start_ms + rng.randrange(20_000, 90_000)
        return [
            cc | {"state": "ringing", "event_timestamp": ring},
            cc | {"state": "connected", "event_timestamp": ring + 500},
            cc | {"state": "queued", "event_timestamp": ring + 900},
            cc | {"state": "hangup", "event_timestamp": ended + 90, "date_ended": ended},
        ]
    agent = {"id": int(first_id), "name": first_name, "phone": line, "type": "user"}
    cc = leg(call_id, center, operator=call_id + 1)
    answer = leg(call_id + 1, agent, entry_point=call_id)
    connected = ring + rng.randrange(3_000, 20_000)
    talk = rng.randrange(20_000, 300_000)
    ended = connected + talk
    done = {
        "date_connected": connected,
        "date_ended": ended,
        "duration": float(ended - start_ms),
        "talk_time": talk,
    }
    events = [
        cc | {"state": "ringing", "event_timestamp": ring},
        answer | {"state": "ringing", "event_timestamp": ring + 300},
        answer | {"state": "connected", "event_timestamp": connected, "date_connected": connected},
        cc | {"state": "connected", "event_timestamp": connected + 1, "date_connected": connected},
    ]
    last = answer | done
    if outcome == "transfer":
        second = {"id": int(second_id), "name": second_name, "phone": line, "type": "user"}
        moved = leg(call_id + 2, second, master=call_id + 1)
        handed = connected + talk // 2
        last = moved | done | {"date_connected": handed + 2_000, "talk_time": talk // 2}
        events += [
            moved | {"state": "ringing", "event_timestamp": handed},
            moved
            | {"state": "connected", "event_timestamp": handed + 2_000, "date_connected": handed + 2_000},
            answer
            | done
            | {"state": "hangup", "event_timestamp": handed + 2_100, "date_ended": handed + 2_100},
            last | {"state": "hangup", "event_timestamp": ended + 200},
        ]
    else:
        events.append(last | {"state": "hangup", "event_timestamp": ended + 200})
    events += [
        cc | done | {"state": "hangup", "event_timestamp": ended + 300},
        last
        | {
            "state": "dispositions",
            "event_timestamp": ended + rng.randrange(5_000, 60_000),
            "call_dispositions": rng.choice(("Sales~Demo booked", "Sales~Follow up")),
        },
    ]
    return events


def deliveries(
    rng: random.Random, events: list[dict[str, Any]], *, duplicate_rate: float, shuffle_rate: float
) -> list[dict[str, Any]]:
    """How Dialpad might deliver a call's events: sometimes shuffled, sometimes twice."""
    delivered = list(events)
    if rng.random() < shuffle_rate:
        rng.shuffle(delivered)
    for event in list(delivered):
        if rng.random() < duplicate_rate:
            delivered.insert(rng.randrange(len(delivered) + 1), event)
    return delivered


def sign(claims: dict[str, Any], secret: str) -> bytes:
    """The body Dialpad posts: the event as an HS256 JWT."""
    with warnings.catch_warnings():
        # The secret is the tenant's; PyJWT's advice on its length is not the simulator's business.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256").encode()


def _outcome(rng: random.Random) -> str:
    return rng.choices([name for name, _ in OUTCOMES], weights=[weight for _, weight in OUTCOMES])[0]


def plan_calls(
    rng: random.Random,
    *,
    lead_phones: list[str],
    calls: int,
    region: str | None,
    duplicate_rate: float = 0.1,
    shuffle_rate: float = 0.2,
    start_ms: int | None = None,
    bursts: bool = False,
) -> Iterator[tuple[dict[str, Any], bool]]:
    """(claims, is_redelivery) for `calls` calls, their events interleaved as in a busy contact center.

    Calls start a second apart and each delivery happens at its event's time, so one call's events
    are seconds to minutes apart with other calls' events between them; a call delivered out of
    order keeps its delivery order (its k-th delivery goes at its k-th event time). With `bursts`,
    each call's deliveries come back to back instead (a stress case: its events meet on its lock)."""
    line = phone_number(rng, region)
    now_ms = start_ms if start_ms is not None else int(time.time() * 1000)
    due: list[tuple[int, int, dict[str, Any], bool]] = []
    order = itertools.count()
    for number in range(calls):
        call_start = now_ms + number * 1000
        # Nothing still to come starts before this call: deliver what is due before it.
        while due and due[0][0] < call_start:
            _, _, event, redelivery = heapq.heappop(due)
            yield event, redelivery
        outcome = _outcome(rng)
        customer = (
            rng.choice(lead_phones)
            if lead_phones and outcome not in ("missed_inbound",)
            else phone_number(rng, region)
        )
        events = call_events(
            rng,
            # Room for a customer call's further legs (call_id + 1, + 2).
            call_id=7_000_000_000_000_000 + (rng.getrandbits(46) << 2),
            customer=customer,
            line=line,
            start_ms=call_start,
            outcome=outcome,
        )
        delivered = deliveries(rng, events, duplicate_rate=duplicate_rate, shuffle_rate=shuffle_rate)
        times = (
            [call_start] * len(delivered)
            if bursts
            else sorted(int(event["event_timestamp"]) for event in delivered)
        )
        seen: set[tuple[Any, str, int]] = set()
        for at, event in zip(times, delivered, strict=True):
            key = (event["call_id"], event["state"], event["event_timestamp"])
            heapq.heappush(due, (at, next(order), event, key in seen))
            seen.add(key)
    while due:
        _, _, event, redelivery = heapq.heappop(due)
        yield event, redelivery


# Dialpad's event times (epoch ms) and durations (ms), moved and scaled by `retime`.
TIME_FIELDS = ("event_timestamp", "date_started", "date_rang", "date_connected", "date_ended")
DURATION_FIELDS = ("duration", "total_duration")
# With no rate limit, events are still this far apart in call time (so a call's events keep their order).
MIN_EVENT_SPACING_MS = 5
PROGRESS_EVERY_SECONDS = 0.5


def retime(claims: dict[str, Any], start_ms: int, scale: float) -> dict[str, Any]:
    """The event with its times moved to `start_ms + (t - start_ms) * scale` and durations scaled."""

    def moved(value: Any) -> Any:
        return (
            round(start_ms + (value - start_ms) * scale)
            if isinstance(value, int | float) and value
            else value
        )

    def scaled(value: Any) -> Any:
        return round(value * scale) if isinstance(value, int | float) else value

    out = dict(claims)
    for key in TIME_FIELDS:
        if key in out:
            out[key] = moved(out[key])
    for key in DURATION_FIELDS:
        if key in out:
            out[key] = scaled(out[key])
    if isinstance(out.get("recording_details"), list):
        out["recording_details"] = [
            {**item, "start_time": moved(item.get("start_time")), "duration": scaled(item.get("duration"))}
            if isinstance(item, dict)
            else item
            for item in out["recording_details"]
        ]
    return out


def compress(
    planned: list[tuple[dict[str, Any], bool]], *, start_ms: int, budget_ms: float
) -> list[tuple[dict[str, Any], bool]]:
    """The planned deliveries with their calls' timeline squeezed into `budget_ms` after `start_ms`
    (never stretched): a run posts its calls as having happened over the run itself."""
    last = max((int(claims["event_timestamp"]) for claims, _ in planned), default=start_ms)
    span = max(1, last - start_ms)
    scale = min(1.0, budget_ms / span)
    return [(retime(claims, start_ms, scale), redelivery) for claims, redelivery in planned]


async def simulate(
    credentials: Credentials,
    *,
    base_url: str,
    leads: int,
    calls: int,
    rate: float,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Post `leads` leads, then `calls` calls' events at about `rate` requests per second;
    `progress` gets a status line now and then and once at the end."""
    rng = random.Random(seed)
    report = Report()
    interval = 1.0 / rate if rate > 0 else 0.0
    total_events = 0
    told = 0.0

    def tell(final: bool = False) -> None:
        nonlocal told
        if progress is None or (not final and time.monotonic() - told < PROGRESS_EVERY_SECONDS):
            return
        told = time.monotonic()
        progress(
            f"leads {report.leads_sent + report.leads_failed}/{leads if credentials.lead_token else 0}, "
            f"events {report.events_sent}/{total_events}"
        )

    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        phones = [phone_number(rng, credentials.region) for _ in range(leads)]
        if credentials.lead_token:
            for phone in phones:
                answer = await http.post(
                    f"/webhooks/lead/{credentials.lead_token}", json=lead_payload(rng, phone)
                )
                if answer.status_code < 300:
                    report.leads_sent += 1
                else:
                    report.leads_failed += 1
                    report.failures[answer.status_code] = report.failures.get(answer.status_code, 0) + 1
                tell()
                if interval:
                    await asyncio.sleep(interval)
        # Leads first, then calls start "now": the calls link to the leads created before them.
        start_ms = int(time.time() * 1000)
        planned = list(
            plan_calls(rng, lead_phones=phones, calls=calls, region=credentials.region, start_ms=start_ms)
        )
        total_events = len(planned)
        budget_ms = total_events * max(interval * 1000, MIN_EVENT_SPACING_MS)
        next_post = time.monotonic()
        for claims, redelivery in compress(planned, start_ms=start_ms, budget_ms=budget_ms):
            # Dialpad sends an event after it happened: wait for its time (compressed, so briefly),
            # and for the rate.
            wait = max(int(claims["event_timestamp"]) / 1000 - time.time(), next_post - time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            next_post = time.monotonic() + interval
            if credentials.call_center_id is not None:
                # The company endpoint finds the tenant by its call center on the call.
                claims = claims | {
                    "proxy_target": {"id": int(credentials.call_center_id), "type": "callcenter"}
                }
            answer = await http.post(credentials.path, content=sign(claims, credentials.dialpad_secret))
            report.events_sent += 1
            report.duplicates_sent += int(redelivery)
            report.unique_events += int(not redelivery)
            if answer.status_code != 200:
                report.events_failed += 1
                report.failures[answer.status_code] = report.failures.get(answer.status_code, 0) + 1
            tell()
    tell(final=True)
    return report
