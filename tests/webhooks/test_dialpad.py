"""`POST /webhooks/dialpad/{slug}` over HTTP: signed events to order-proof calls, leads and contacts."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.tenants import TenantSettings
from tests.conftest import AppFactory, free_port
from tests.dialpad_samples import INBOUND, OUTBOUND, sample, sign

SECRET = "dialpad-secret-for-tests"
CALL_ID = "5308476234735616"
STARTED = datetime.fromtimestamp(1768492800, tz=UTC)
CONNECTED = datetime.fromtimestamp(1768492808.42, tz=UTC)
DISPOSED = datetime.fromtimestamp(1768493035, tz=UTC)


async def insert_lead(
    engine: AsyncEngine, tenant_id: UUID, phone: str, created_at: datetime, *, status: str = "new"
) -> tuple[UUID, UUID]:
    """A contact and lead as the lead webhook would leave them (built by SQL, not through issue 3)."""
    async with engine.begin() as connection:
        contact_id = (
            await connection.execute(
                text(
                    "INSERT INTO contacts (tenant_id, phone, name) VALUES (:t, :p, 'John Smith') "
                    "ON CONFLICT (tenant_id, phone) DO UPDATE SET name = contacts.name RETURNING id"
                ),
                {"t": tenant_id, "p": phone},
            )
        ).scalar_one()
        lead_id = (
            await connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, source, status, created_at) "
                    "VALUES (:t, :c, 'test', :s, :at) RETURNING id"
                ),
                {"t": tenant_id, "c": contact_id, "s": status, "at": created_at},
            )
        ).scalar_one()
    return contact_id, lead_id


async def row(engine: AsyncEngine, sql: str, **params: Any) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        found = (await connection.execute(text(sql), params)).first()
    return dict(found._mapping) if found else None


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(found._mapping) for found in await connection.execute(text(sql), params)]


async def post(client: httpx.AsyncClient, slug: str, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(f"/webhooks/dialpad/{slug}", content=body, headers=headers)


async def post_samples(client: httpx.AsyncClient, slug: str, names: tuple[str, ...]) -> list[httpx.Response]:
    return [await post(client, slug, sign(sample(name), SECRET)) for name in names]


async def test_outbound_samples_make_a_completed_booked_call_and_book_the_lead(client, make_tenant, engine):
    tenant = await make_tenant(timezone="Australia/Sydney")
    contact_id, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=7))
    answers = await post_samples(client, tenant.tenant.slug, OUTBOUND)
    assert [answer.status_code for answer in answers] == [200] * 4
    assert [answer.json()["status"] for answer in answers] == [
        "RINGING",
        "CONNECTED",
        "COMPLETED",
        "COMPLETED",
    ]

    call = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=tenant.id)
    assert call is not None
    assert call["external_id"] == CALL_ID
    assert (call["contact_id"], call["lead_id"]) == (contact_id, lead_id)
    assert (call["direction"], call["status"]) == ("outbound", "completed")
    assert (call["from_number"], call["to_number"]) == ("+61485986529", "+61430363930")
    assert (call["agent_id"], call["agent_name"], call["agent_email"]) == (
        "5821975242293248",
        "Ana Agent",
        "ana@example.com",
    )
    assert (call["started_at"], call["connected_at"]) == (STARTED, CONNECTED)
    assert call["ended_at"] == datetime.fromtimestamp(1768492993.65, tz=UTC)
    assert call["duration_seconds"] == Decimal("185.230")
    assert call["recording_url"] == "https://dialpad.com/recordings/5139284756283392"
    assert (call["disposition"], call["disposition_raw"], call["booked"]) == ("booked", "Sales~Booked", True)
    assert (call["customer_call_key"], call["is_primary_leg"]) == (CALL_ID, True)

    lead = await row(engine, "SELECT * FROM leads WHERE id = :id", id=lead_id)
    assert lead is not None
    assert lead["status"] == "booked"
    assert (lead["first_attempt_at"], lead["first_connected_at"], lead["booked_at"]) == (
        STARTED,
        CONNECTED,
        DISPOSED,
    )
    history = await rows(
        engine, "SELECT from_status, to_status, changed_at FROM lead_status_changes ORDER BY id"
    )
    assert history == [
        {"from_status": "new", "to_status": "contacted", "changed_at": CONNECTED},
        {"from_status": "contacted", "to_status": "booked", "changed_at": DISPOSED},
    ]
    events = await rows(engine, "SELECT type, payload FROM events ORDER BY id")
    calls = [event["payload"]["kind"] for event in events if event["type"] == "CALL_UPDATED"]
    assert calls == ["RINGING", "CONNECTED", "ENDED", "DISPOSITION"]
    leads = [event["payload"] for event in events if event["type"] == "LEAD_UPDATED"]
    assert [sorted(payload["changes"]) for payload in leads] == [
        ["first_attempt_at"],
        ["first_connected_at", "status"],
        ["booked_at", "status"],
    ]
    # Status changes say where the lead came from (pipelineChanged tells ENTERED from LEFT by it).
    assert [payload.get("from_status") for payload in leads] == [None, "new", "contacted"]
    assert leads[-1]["lead"]["status"] == "booked"
    assert "raw_data" not in leads[-1]["lead"]
    assert leads[-1]["contact"]["phone"] == "+61430363930"
    assert events[-2]["payload"]["call"]["disposition"] == "booked"


CALL_IGNORED = {"id", "tenant_id", "contact_id", "lead_id", "created_at", "updated_at"}
LEAD_IGNORED = {"id", "tenant_id", "contact_id", "updated_at"}


async def test_all_24_orders_of_the_outbound_events_give_the_same_call_and_lead(client, make_tenant, engine):
    outcomes = []
    for number, order in enumerate(itertools.permutations(OUTBOUND)):
        tenant = await make_tenant(slug=f"order-{number}")
        _, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=7))
        answers = await post_samples(client, tenant.tenant.slug, order)
        assert all(answer.status_code == 200 for answer in answers), order
        call = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=tenant.id)
        lead = await row(engine, "SELECT * FROM leads WHERE id = :id", id=lead_id)
        assert call is not None
        assert lead is not None
        assert call["lead_id"] == lead_id
        changes = await rows(
            engine,
            "SELECT from_status, to_status, changed_at FROM lead_status_changes WHERE lead_id = :id ORDER BY id",
            id=lead_id,
        )
        outcomes.append(
            (
                {key: value for key, value in call.items() if key not in CALL_IGNORED},
                {key: value for key, value in lead.items() if key not in LEAD_IGNORED},
                changes,
            )
        )
    first = outcomes[0]
    assert first[0]["status"] == "completed"
    assert first[0]["booked"] is True
    assert first[1]["status"] == "booked"
    for number, outcome in enumerate(outcomes):
        assert outcome == first, list(itertools.permutations(OUTBOUND))[number]


async def test_a_redelivered_event_answers_200_and_changes_nothing(client, make_tenant, engine):
    tenant = await make_tenant()
    await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=1))
    await post_samples(client, tenant.tenant.slug, OUTBOUND)
    before = await row(engine, "SELECT * FROM calls")
    counts = "SELECT (SELECT count(*) FROM call_events) AS e, (SELECT count(*) FROM events) AS h"
    counted = await row(engine, counts)
    for name in OUTBOUND:
        answer = await post(client, tenant.tenant.slug, sign(sample(name), SECRET))
        assert answer.status_code == 200
        assert answer.json()["duplicate"] is True
    assert await row(engine, "SELECT * FROM calls") == before
    assert await row(engine, counts) == counted == {"e": 4, "h": 7}


async def test_concurrent_events_of_one_call_lose_no_update(client, make_tenant, engine):
    tenant = await make_tenant()
    _, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=1))
    bodies = [sign(sample(name), SECRET) for name in OUTBOUND]
    answers = await asyncio.gather(*(post(client, tenant.tenant.slug, body) for body in bodies * 2))
    assert all(answer.status_code == 200 for answer in answers)
    assert sum(answer.json()["duplicate"] for answer in answers) == 4
    call = await row(engine, "SELECT * FROM calls")
    assert call is not None
    assert (call["status"], call["booked"], call["lead_id"]) == ("completed", True, lead_id)
    assert call["duration_seconds"] == Decimal("185.230")
    assert (await row(engine, "SELECT count(*) AS n FROM call_events")) == {"n": 4}
    assert (await row(engine, "SELECT status FROM leads")) == {"status": "booked"}


async def test_inbound_missed_then_voicemail_creates_the_unknown_caller(client, make_tenant, engine):
    tenant = await make_tenant(timezone="Australia/Sydney")
    missed, voicemail = await post_samples(client, tenant.tenant.slug, INBOUND)
    assert missed.json()["status"] == "MISSED"
    assert voicemail.json()["status"] == "VOICEMAIL"
    call = await row(engine, "SELECT * FROM calls")
    contact = await row(engine, "SELECT * FROM contacts")
    assert call is not None
    assert contact is not None
    assert contact["phone"] == "+61412345678"
    # Dialpad names unknown callers by their number: that is not a name.
    assert contact["name"] is None
    assert (call["contact_id"], call["lead_id"]) == (contact["id"], None)
    assert (call["direction"], call["status"], call["voicemail"]) == ("inbound", "voicemail", True)
    assert (call["from_number"], call["to_number"]) == ("+61412345678", "+61485986500")
    assert call["voicemail_url"] == "https://dialpad.com/voicemail/6592322884239360"
    assert call["agent_id"] is None


async def test_a_call_links_the_latest_lead_created_before_it_started(client, make_tenant, engine):
    tenant = await make_tenant()
    await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(days=3), status="closed")
    _, latest = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(hours=1))
    await insert_lead(engine, tenant.id, "+61430363930", STARTED + timedelta(hours=1))
    await post_samples(client, tenant.tenant.slug, OUTBOUND[:2])
    assert await row(engine, "SELECT lead_id FROM calls") == {"lead_id": latest}
    lead = await row(engine, "SELECT status, first_attempt_at FROM leads WHERE id = :id", id=latest)
    assert lead == {"status": "contacted", "first_attempt_at": STARTED}


async def test_a_late_ringing_after_hangup_changes_nothing(client, make_tenant, engine):
    tenant = await make_tenant()
    hangup = sample("outbound-3-hangup") | {"date_connected": None, "duration": 0, "recording_details": []}
    assert (await post(client, tenant.tenant.slug, sign(hangup, SECRET))).json()["status"] == "NO_ANSWER"
    before = await row(engine, "SELECT * FROM calls")
    ringing = sample("outbound-1-calling") | {"state": "ringing", "event_timestamp": 1768492801000}
    answer = await post(client, tenant.tenant.slug, sign(ringing, SECRET))
    assert answer.json() | {"call_id": None} == {
        "success": True,
        "duplicate": False,
        "call_id": None,
        "status": "NO_ANSWER",
    }
    after = await row(engine, "SELECT * FROM calls")
    assert after is not None
    assert before is not None
    # The event is stored and counted (bookkeeping); the call it describes is unchanged.
    assert after.pop("event_count") == before.pop("event_count") + 1
    assert after == before


async def test_seed_simplified_events(client, make_tenant, engine):
    tenant = await make_tenant(settings=TenantSettings(default_region="AU"))
    _, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=2))
    base = {
        "call_id": "dialpad_123456",
        "call_center_id": "cc-1",
        "from_number": "+61485986529",
        "to_number": "0430 363 930",
        "user_id": "agent-7",
        "start_time": 1768492800,
    }
    events = [
        base | {"event_type": "ringing"},
        base | {"event_type": "hangup", "duration": 95},
        base | {"event_type": "dispositions", "disposition": "Booked", "timestamp": 1768493000},
    ]
    answers = [await post(client, tenant.tenant.slug, sign(event, SECRET)) for event in events]
    assert [answer.json()["status"] for answer in answers] == ["RINGING", "COMPLETED", "COMPLETED"]
    call = await row(engine, "SELECT * FROM calls")
    assert call is not None
    assert (call["external_id"], call["direction"], call["lead_id"]) == (
        "dialpad_123456",
        "outbound",
        lead_id,
    )
    assert (call["from_number"], call["to_number"]) == ("+61485986529", "+61430363930")
    assert call["agent_id"] == "agent-7"
    assert call["duration_seconds"] == Decimal("95.000")
    assert call["ended_at"] == STARTED + timedelta(seconds=95)
    assert (call["disposition"], call["booked"]) == ("booked", True)
    formats = await rows(engine, "SELECT DISTINCT format FROM call_events")
    assert formats == [{"format": "seed"}]
    lead = await row(engine, "SELECT status, booked_at FROM leads")
    assert lead == {"status": "booked", "booked_at": datetime.fromtimestamp(1768493000, tz=UTC)}
    # A seed call with no talk time was not answered.
    missed = base | {"call_id": "dialpad_2", "event_type": "hangup", "duration": 0}
    assert (await post(client, tenant.tenant.slug, sign(missed, SECRET))).json()["status"] == "NO_ANSWER"


async def test_a_non_booking_disposition_records_but_does_not_book(client, make_tenant, engine):
    tenant = await make_tenant()
    _, _lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=2))
    events = [sample(name) for name in OUTBOUND]
    events[-1]["call_dispositions"] = "Sales~Not Interested"
    for event in events:
        await post(client, tenant.tenant.slug, sign(event, SECRET))
    assert await row(engine, "SELECT disposition, booked FROM calls") == {
        "disposition": "not_interested",
        "booked": False,
    }
    assert await row(engine, "SELECT status, booked_at FROM leads") == {
        "status": "contacted",
        "booked_at": None,
    }


async def test_legs_share_a_customer_call_key(client, make_tenant, engine):
    tenant = await make_tenant()
    root = sample("inbound-1-missed") | {"call_id": 111}
    leg = sample("inbound-1-missed") | {"call_id": 222, "entry_point_call_id": 111}
    for event in (leg, root):
        await post(client, tenant.tenant.slug, sign(event, SECRET))
    legs = await rows(engine, "SELECT external_id, customer_call_key, is_primary_leg FROM calls ORDER BY 1")
    assert legs == [
        {"external_id": "111", "customer_call_key": "111", "is_primary_leg": True},
        {"external_id": "222", "customer_call_key": "111", "is_primary_leg": False},
    ]
    primary = await row(
        engine, "SELECT count(DISTINCT customer_call_key) AS n FROM calls WHERE is_primary_leg"
    )
    assert primary == {"n": 1}


async def test_the_body_is_read_whatever_the_content_type(client, make_tenant, engine):
    tenant = await make_tenant()
    body = sign(sample("outbound-1-calling"), SECRET)
    for content_type in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
        answer = await post(client, tenant.tenant.slug, body, **{"content-type": content_type})
        assert answer.status_code == 200
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 1}


def _claims(**extra: Any) -> dict[str, Any]:
    return sample("outbound-1-calling") | extra


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (sign(_claims(), "not-the-tenant-secret"), 401, "UNAUTHENTICATED"),
        (sign(_claims(), SECRET, algorithm="HS512"), 401, "UNAUTHENTICATED"),
        (
            b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + sign(_claims(), SECRET).split(b".")[1] + b".",
            401,
            "UNAUTHENTICATED",
        ),
        (sign(_claims(exp=1_000_000_000), SECRET), 401, "UNAUTHENTICATED"),
        (json.dumps(_claims()).encode(), 401, "UNAUTHENTICATED"),
        (b"this is not a jwt", 400, "BAD_USER_INPUT"),
        (b"", 400, "BAD_USER_INPUT"),
        (sign({"state": "calling"}, SECRET), 400, "BAD_USER_INPUT"),
    ],
    ids=["bad-signature", "hs512", "alg-none", "expired", "unsigned", "not-jwt", "empty", "no-call-id"],
)
async def test_rejections(client, make_tenant, engine, body: bytes, status: int, code: str):
    tenant = await make_tenant()
    answer = await post(client, tenant.tenant.slug, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 0}
    assert await row(engine, "SELECT count(*) AS n FROM calls") == {"n": 0}


async def test_unknown_tenant_is_404(client):
    answer = await post(client, "no-such-tenant", sign(_claims(), SECRET))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


async def test_unsigned_json_is_accepted_when_the_tenant_allows_it(client, make_tenant, engine):
    tenant = await make_tenant(settings=TenantSettings(allow_unsigned_events=True))
    answer = await post(client, tenant.tenant.slug, json.dumps(_claims()).encode())
    assert answer.status_code == 200
    assert answer.json()["status"] == "RINGING"
    # Signed events still work for such a tenant.
    answer = await post(client, tenant.tenant.slug, sign(sample("outbound-2-connected"), SECRET))
    assert answer.json()["status"] == "CONNECTED"


async def test_database_down_answers_503_so_dialpad_retries(make_app: AppFactory):
    app = make_app(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.post("/webhooks/dialpad/any", content=sign(_claims(), SECRET))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "UNAVAILABLE"


async def test_concurrent_events_of_several_calls_to_one_lead_never_deadlock(client, make_tenant, engine):
    """Linking a call to a lead takes a key-share lock on the lead; updating the lead must not
    conflict with it (FOR NO KEY UPDATE), or two calls to one customer deadlock (found by the demo)."""
    tenant = await make_tenant()
    _, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=1))
    bodies = []
    for number in range(6):
        for name in OUTBOUND:
            claims = sample(name)
            claims["call_id"] = 6_000_000_000_000_000 + number
            bodies.append(sign(claims, SECRET))
    answers = await asyncio.gather(*(post(client, tenant.tenant.slug, body) for body in bodies))
    assert [answer.status_code for answer in answers] == [200] * len(bodies), [
        a.text for a in answers if a.status_code != 200
    ]
    async with engine.connect() as connection:
        statuses = (
            (await connection.execute(text("SELECT status FROM calls WHERE lead_id = :l"), {"l": lead_id}))
            .scalars()
            .all()
        )
        lead = (
            await connection.execute(
                text("SELECT status, first_attempt_at FROM leads WHERE id = :l"), {"l": lead_id}
            )
        ).one()
    assert sorted(statuses) == ["completed"] * 6
    assert lead.status == "booked"
    assert lead.first_attempt_at is not None


async def test_a_rotated_secret_or_a_changed_setting_takes_effect_on_the_next_event(
    client, make_tenant, engine
):
    """Each process keeps the tenant it last read; the event write checks it is still current."""
    tenant = await make_tenant()
    slug = tenant.tenant.slug
    assert (await post(client, slug, sign(sample("outbound-1-calling"), SECRET))).status_code == 200
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE tenants SET dialpad_webhook_secret = 'rotated-secret' WHERE id = :t"),
            {"t": tenant.id},
        )
    refused = await post(client, slug, sign(sample("outbound-2-connected"), SECRET))
    assert refused.status_code == 401, refused.text
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 1}
    accepted = await post(client, slug, sign(sample("outbound-2-connected"), "rotated-secret"))
    assert accepted.json()["status"] == "CONNECTED"

    unsigned = json.dumps(sample("outbound-3-hangup")).encode()
    assert (await post(client, slug, unsigned)).status_code == 401
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE tenants SET settings = settings || '{\"allow_unsigned_events\": true}' WHERE id = :t"
            ),
            {"t": tenant.id},
        )
    assert (await post(client, slug, unsigned)).json()["status"] == "COMPLETED"
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE tenants SET settings = settings || '{\"allow_unsigned_events\": false}' WHERE id = :t"
            ),
            {"t": tenant.id},
        )
    refused = await post(client, slug, json.dumps(sample("outbound-4-dispositions")).encode())
    assert refused.status_code == 401
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 3}


async def test_a_renamed_tenant_is_not_found_at_its_old_slug(client, make_tenant, engine):
    tenant = await make_tenant()
    old = tenant.tenant.slug
    assert (await post(client, old, sign(sample("outbound-1-calling"), SECRET))).status_code == 200
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE tenants SET slug = 'renamed' WHERE id = :t"), {"t": tenant.id})
    answer = await post(client, old, sign(sample("outbound-2-connected"), SECRET))
    assert answer.status_code == 404
    assert (await post(client, "renamed", sign(sample("outbound-2-connected"), SECRET))).status_code == 200


async def test_events_of_one_call_racing_through_two_processes_give_the_sequential_result(
    make_app: AppFactory, make_tenant, engine
):
    """The call's row lock decides; an event that waited on it reads the history again (the other
    transaction's event included), so no event is left out of the projection."""
    reference_tenant = await make_tenant(slug="reference")
    await insert_lead(engine, reference_tenant.id, "+61430363930", STARTED - timedelta(minutes=7))
    apps = [make_app(), make_app()]
    async with LifespanManager(apps[0]) as first, LifespanManager(apps[1]) as second:
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t")
            for manager in (first, second)
        ]
        for answer in await post_samples(clients[0], "reference", OUTBOUND):
            assert answer.status_code == 200
        reference = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=reference_tenant.id)
        assert reference is not None
        tenants = []
        for number in range(8):
            tenant = await make_tenant(slug=f"race-{number}")
            await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=7))
            tenants.append(tenant)
        for tenant in tenants:
            bodies = [sign(sample(name), SECRET) for name in OUTBOUND] * 2  # each event twice
            answers = await asyncio.gather(
                *(post(clients[index % 2], tenant.tenant.slug, body) for index, body in enumerate(bodies))
            )
            assert [answer.status_code for answer in answers] == [200] * len(bodies)
            assert sum(answer.json()["duplicate"] for answer in answers) == len(OUTBOUND)
        for client in clients:
            await client.aclose()
    for tenant in tenants:
        call = await row(engine, "SELECT * FROM calls WHERE tenant_id = :t", t=tenant.id)
        assert call is not None
        assert {key: value for key, value in call.items() if key not in CALL_IGNORED} == {
            key: value for key, value in reference.items() if key not in CALL_IGNORED
        }
        lead = await row(
            engine,
            "SELECT status, first_attempt_at, first_connected_at, booked_at FROM leads WHERE tenant_id = :t",
            t=tenant.id,
        )
        assert lead == {
            "status": "booked",
            "first_attempt_at": STARTED,
            "first_connected_at": CONNECTED,
            "booked_at": DISPOSED,
        }


async def test_event_payloads_built_in_sql_equal_the_python_snapshots_of_the_rows(
    client, make_tenant, engine
):
    """CALL_UPDATED and LEAD_UPDATED payloads are built by the write statement (one round trip);
    subscribers read them as `persistence.snapshots.snapshot()` of the same rows."""
    from persistence.rows import CallRow
    from persistence.snapshots import LEAD_EXCLUDED, snapshot

    tenant = await make_tenant()
    _, lead_id = await insert_lead(engine, tenant.id, "+61430363930", STARTED - timedelta(minutes=7))
    await post_samples(client, tenant.tenant.slug, OUTBOUND)
    events = await rows(engine, "SELECT type, payload FROM events ORDER BY id")
    call_row = await row(engine, "SELECT * FROM calls")
    lead_row = await row(engine, "SELECT * FROM leads WHERE id = :id", id=lead_id)
    contact_row = await row(engine, "SELECT * FROM contacts")
    assert call_row is not None
    assert lead_row is not None
    assert contact_row is not None
    last_call = [event["payload"] for event in events if event["type"] == "CALL_UPDATED"][-1]
    assert last_call == {"call": snapshot(CallRow.from_mapping(call_row)), "kind": "DISPOSITION"}
    last_lead = [event["payload"] for event in events if event["type"] == "LEAD_UPDATED"][-1]
    assert last_lead["lead"] == snapshot(lead_row, exclude=LEAD_EXCLUDED)
    assert last_lead["contact"] == snapshot(contact_row)


async def test_concurrent_redeliveries_of_one_event_store_it_once(client, make_tenant, engine):
    tenant = await make_tenant()
    body = sign(sample("outbound-1-calling"), SECRET)
    answers = await asyncio.gather(*(post(client, tenant.tenant.slug, body) for _ in range(10)))
    assert [answer.status_code for answer in answers] == [200] * 10
    assert sorted(answer.json()["duplicate"] for answer in answers) == [False] + [True] * 9
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 1}
    assert await row(engine, "SELECT count(*) AS n FROM events WHERE type = 'CALL_UPDATED'") == {"n": 1}


async def test_a_body_over_256_kib_is_413_and_stores_nothing(client, make_tenant, engine):
    tenant = await make_tenant()
    body = sign(_claims(padding="x" * 300_000), SECRET)
    answer = await post(client, tenant.tenant.slug, body)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 0}


async def test_a_contact_named_by_the_call_is_named_in_the_lead_event_it_causes(client, make_tenant, engine):
    """The call's write names a nameless contact and updates its lead in one statement; the
    LEAD_UPDATED snapshot shows the contact as written, not as it was before the statement."""
    tenant = await make_tenant()
    async with engine.begin() as connection:
        contact_id = (
            await connection.execute(
                text("INSERT INTO contacts (tenant_id, phone) VALUES (:t, '+61430363930') RETURNING id"),
                {"t": tenant.id},
            )
        ).scalar_one()
        await connection.execute(
            text(
                "INSERT INTO leads (tenant_id, contact_id, source, created_at) VALUES (:t, :c, 'test', :at)"
            ),
            {"t": tenant.id, "c": contact_id, "at": STARTED - timedelta(minutes=7)},
        )
    assert (
        await post(client, tenant.tenant.slug, sign(sample("outbound-1-calling"), SECRET))
    ).status_code == 200
    events = await rows(engine, "SELECT payload FROM events WHERE type = 'LEAD_UPDATED'")
    assert [event["payload"]["contact"]["name"] for event in events] == ["John Smith"]
    assert events[0]["payload"]["changes"] == ["first_attempt_at"]


async def test_a_small_pool_serves_a_burst_and_keeps_connections_for_the_relay(
    make_app: AppFactory, make_tenant
):
    """Webhook writes hold at most the pool minus the relay's share, so a burst larger than the pool
    is answered in full and its events are still numbered (published) while it runs."""
    tenant = await make_tenant()
    app = make_app(db_pool_size=4)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as http,
    ):
        bodies = [
            sign(sample("outbound-1-calling") | {"call_id": 8_000_000_000_000_000 + n}, SECRET)
            for n in range(24)
        ]
        answers = await asyncio.gather(*(post(http, tenant.tenant.slug, body) for body in bodies))
        assert [answer.status_code for answer in answers] == [200] * 24
        engine = manager._state["engine"]
        for _ in range(100):
            async with engine.connect() as connection:
                pending = (
                    await connection.execute(text("SELECT count(*) FROM events WHERE seq IS NULL"))
                ).scalar_one()
                numbered = (
                    await connection.execute(text("SELECT count(*) FROM events WHERE seq IS NOT NULL"))
                ).scalar_one()
            if pending == 0 and numbered >= 24:
                break
            await asyncio.sleep(0.05)
        assert (pending, numbered >= 24) == (0, True)


async def test_webhook_writes_wait_for_the_gate_that_keeps_connections_for_the_relay(
    make_app: AppFactory, make_tenant
):
    tenant = await make_tenant()
    async with (
        LifespanManager(make_app(db_pool_size=4)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as http,
    ):
        gate = manager._state["deps"].write_gate
        for _ in range(2):  # a pool of 4 keeps 2 for the relay and readers: webhooks get the other 2
            await gate.acquire()
        assert gate.locked()
        answer = asyncio.create_task(
            post(http, tenant.tenant.slug, sign(sample("outbound-1-calling"), SECRET))
        )
        await asyncio.sleep(0.3)
        assert not answer.done()
        for _ in range(2):
            gate.release()
        assert (await answer).status_code == 200


@pytest.mark.parametrize(
    "extra",
    [{"state": "ringing\x00"}, {"contact": {"name": "Ann\x00"}}, {"notes\x00": "x"}],
    ids=["nul-in-state", "nul-nested", "nul-in-key"],
)
async def test_a_nul_character_anywhere_in_the_event_is_400_and_stores_nothing(
    client, make_tenant, engine, extra
):
    """PostgreSQL text and jsonb cannot hold NUL: the event is refused, not half-written."""
    tenant = await make_tenant()
    answer = await post(client, tenant.tenant.slug, sign(_claims(**extra), SECRET))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_USER_INPUT"
    assert await row(engine, "SELECT count(*) AS n FROM call_events") == {"n": 0}


@pytest.mark.parametrize(
    "extra",
    [
        {"event_timestamp": 10**20},
        {"date_started": 10**20, "date_connected": -1},
        {"date_ended": float("1e300")},
        {"duration": 10**30},
        {"duration": -5},
    ],
    ids=["huge-event-time", "huge-start", "huge-end", "huge-duration", "negative-duration"],
)
async def test_impossible_times_and_durations_are_unknown_not_errors(client, make_tenant, engine, extra):
    tenant = await make_tenant()
    answer = await post(client, tenant.tenant.slug, sign(_claims(**extra), SECRET))
    assert answer.status_code == 200, answer.text
    call = await row(engine, "SELECT started_at, duration_seconds FROM calls")
    assert call is not None
    assert call["started_at"] is None or call["started_at"].year < 10_000
    assert call["duration_seconds"] is None or call["duration_seconds"] < 10**9
