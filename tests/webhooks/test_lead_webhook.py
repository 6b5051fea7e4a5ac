"""`POST /webhooks/lead/{token}` over HTTP: every body shape, every error, merging, idempotency, the event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import EventType
from domain.tenants import TenantSettings
from persistence.snapshots import LEAD_EXCLUDED, snapshot
from tests.conftest import AppFactory, free_port, serve

# The README's example (docs/leads.md), sent byte for byte.
CURL_BODY = (
    '{"contact": {"name": "Jane Citizen", "phone": "0491 570 157", "email": "Jane.Citizen@Example.com", '
    '"city": "Perth"}, "lead": {"source": "facebook", "notes": "Wants a quote for a 6.6 kW solar system"}}'
)
RECEIVED = datetime(2026, 3, 2, 1, 30, 15, 120000, tzinfo=UTC)
# Apps here publish through memory://: with the Redis backend (broadcaster 0.3.1, redis-py 8) a
# cancel during a publish is sometimes swallowed, and the relay then never stops at shutdown.
MEMORY: dict[str, Any] = {"redis_url": None}


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """An in-process client for `app` and its lifespan state (relay, bus)."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, manager._state


@pytest.fixture
async def clocked(make_app: AppFactory) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    async with running(make_app(clock=FixedClock(RECEIVED), **MEMORY)) as pair:
        yield pair


@pytest.fixture
def http(clocked: tuple[httpx.AsyncClient, dict[str, Any]]) -> httpx.AsyncClient:
    return clocked[0]


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(text(sql), params)]


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    found = await rows(
        engine,
        "SELECT (SELECT count(*) FROM contacts) AS c, (SELECT count(*) FROM leads) AS l, "
        "(SELECT count(*) FROM events) AS e",
    )
    return found[0]["c"], found[0]["l"], found[0]["e"]


# --- body shapes ----------------------------------------------------------------------------------


async def test_the_curl_example_stores_contact_and_lead(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(
        tenant.lead_url, content=CURL_BODY, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["duplicate"] is False
    [contact] = await rows(engine, "SELECT * FROM contacts")
    [lead] = await rows(engine, "SELECT * FROM leads")
    assert str(contact["id"]) == body["contact_id"]
    assert str(lead["id"]) == body["lead_id"]
    assert contact["phone"] == "+61491570157"
    assert contact["phone_raw"] == "0491 570 157"
    assert contact["email"] == "jane.citizen@example.com"
    assert (contact["name"], contact["city"], contact["tenant_id"]) == ("Jane Citizen", "Perth", tenant.id)
    assert lead["status"] == "new"
    assert lead["source"] == "facebook"
    assert lead["notes"] == "Wants a quote for a 6.6 kW solar system"
    assert lead["city"] == "Perth"
    assert lead["created_at"] == RECEIVED
    assert lead["lead_webhook_id"] == tenant.webhook.id
    assert lead["raw_data"] == json.loads(CURL_BODY)


REPO = Path(__file__).resolve().parents[2]


def _curl_body(document: str) -> str:
    """The JSON of the lead-webhook curl example in `document` (README.md, docs/leads.md)."""
    text = (REPO / document).read_text(encoding="utf-8")
    start = text.index("-d '", text.index("/webhooks/lead/")) + 4
    return text[start : text.index("'", start)]


async def test_the_readme_example_is_its_own_person(http, make_tenant, engine) -> None:
    """The README's, docs/leads.md's and the Dialpad samples' examples each have their own phone, so
    the README's Jane Smith is not matched to another example's contact."""
    tenant = await make_tenant(timezone="Australia/Perth")
    readme = _curl_body("README.md")
    assert (
        await http.post(tenant.lead_url, content=readme, headers={"Content-Type": "application/json"})
    ).status_code == 201
    [contact] = await rows(engine, "SELECT name, phone FROM contacts")
    assert (contact["name"], contact["phone"]) == ("Jane Smith", "+61491570156")
    assert _curl_body("docs/leads.md") == CURL_BODY
    samples = "".join(path.read_text() for path in (REPO / "tests/webhooks/dialpad_samples").glob("*.json"))
    assert "+61430363930" in samples
    assert "+61491570156" not in samples
    assert "+61491570157" not in samples


async def test_flat_json_from_a_form_tool(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Sydney")
    payload = {
        "first_name": "Sam",
        "last_name": "Lee",
        "phone_number": "(02) 9876 5432",
        "email": "SAM@example.com ",
        "utm_source": "google",
        "message": "Call me",
        "form_id": 7,
    }
    response = await http.post(tenant.lead_url, json=payload)
    assert response.status_code == 201, response.text
    [row] = await rows(
        engine,
        "SELECT c.name, c.phone, c.email, l.source, l.notes, l.raw_data "
        "FROM leads l JOIN contacts c ON c.id = l.contact_id",
    )
    assert row == {
        "name": "Sam Lee",
        "phone": "+61298765432",
        "email": "sam@example.com",
        "source": "google",
        "notes": "Call me",
        "raw_data": payload,
    }


async def test_gohighlevel_workflow_uses_the_tenants_region_not_the_locations(
    http, make_tenant, engine
) -> None:
    tenant = await make_tenant(timezone="America/New_York")
    payload = {
        "contact_id": "nL4bX3o2",
        "first_name": "Ana",
        "last_name": "Ruiz",
        "full_name": "Ana Ruiz",
        "email": "ana@example.com",
        "phone": "(415) 555-0134",
        "tags": "facebook lead,solar",
        "contact_source": "Facebook Form",
        "customData": {"budget": "10k"},
        "attributionSource": {"sessionSource": "Paid Social", "medium": "facebook"},
        "location": {
            "name": "Sunny Solar Perth",
            "address": "1 Hay St",
            "city": "Perth",
            "country": "AU",
            "id": "loc_1",
        },
    }
    response = await http.post(tenant.lead_url, json=payload)
    assert response.status_code == 201, response.text
    [row] = await rows(
        engine,
        "SELECT c.name, c.phone, c.city, c.metadata, l.source, l.city AS lead_city "
        "FROM leads l JOIN contacts c ON c.id = l.contact_id",
    )
    assert row == {
        "name": "Ana Ruiz",
        "phone": "+14155550134",
        "city": None,
        "metadata": {"tags": ["facebook lead", "solar"], "source_contact_id": "nL4bX3o2"},
        "source": "Facebook Form",
        "lead_city": None,
    }


async def test_form_urlencoded(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(
        tenant.lead_url, data={"name": "Kim", "phone": "0430 111 222", "city": "Fremantle", "source": "flyer"}
    )
    assert response.status_code == 201, response.text
    [row] = await rows(
        engine, "SELECT c.phone, l.city, l.source FROM leads l JOIN contacts c ON c.id = l.contact_id"
    )
    assert row == {"phone": "+61430111222", "city": "Fremantle", "source": "flyer"}


ELEMENTOR = {
    "form[id]": "3f2a9c1",
    "form[name]": "Free quote",
    "fields[name][id]": "name",
    "fields[name][type]": "text",
    "fields[name][title]": "Name",
    "fields[name][value]": "Lee Park",
    "fields[field_5b2][id]": "field_5b2",
    "fields[field_5b2][type]": "tel",
    "fields[field_5b2][title]": "Mobile",
    "fields[field_5b2][value]": "0430 222 333",
    "fields[email][id]": "email",
    "fields[email][type]": "email",
    "fields[email][title]": "Email",
    "fields[email][value]": "lee@example.com",
    "meta[page_url][title]": "Page URL",
    "meta[page_url][value]": "https://example.com/quote",
}


async def test_elementor_form_urlencoded_with_bracketed_keys(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(tenant.lead_url, data=ELEMENTOR)
    assert response.status_code == 201, response.text
    [row] = await rows(
        engine,
        "SELECT c.name, c.phone, c.email, l.raw_data FROM leads l JOIN contacts c ON c.id = l.contact_id",
    )
    assert (row["name"], row["phone"], row["email"]) == ("Lee Park", "+61430222333", "lee@example.com")
    assert row["raw_data"]["fields"]["field_5b2"] == {
        "id": "field_5b2",
        "type": "tel",
        "title": "Mobile",
        "value": "0430 222 333",
    }
    assert row["raw_data"]["form"] == {"id": "3f2a9c1", "name": "Free quote"}


async def test_elementor_multipart(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(
        tenant.lead_url,
        data=ELEMENTOR,
        files={"fields[upload][value]": ("bill.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert response.status_code == 201, response.text
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    [row] = await rows(
        engine, "SELECT c.phone, l.raw_data FROM leads l JOIN contacts c ON c.id = l.contact_id"
    )
    assert row["phone"] == "+61430222333"
    assert row["raw_data"]["fields"]["upload"] == {"value": "bill.pdf"}


async def test_curl_d_without_a_content_type_is_read_as_json(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(
        tenant.lead_url, content=CURL_BODY, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 201, response.text


async def test_source_falls_back_to_the_webhook_label_then_webhook(http, make_tenant, engine) -> None:
    tenant = await make_tenant()
    await http.post(tenant.lead_url, json={"phone": "+61430000001"})
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE lead_webhooks SET label = 'website' WHERE id = :id"), {"id": tenant.webhook.id}
        )
    await http.post(tenant.lead_url, json={"phone": "+61430000002"})
    await http.post(tenant.lead_url, json={"phone": "+61430000003", "source": "radio"})
    found = await rows(engine, "SELECT source FROM leads ORDER BY created_at, id")
    assert sorted(row["source"] for row in found) == ["radio", "webhook", "website"]


# --- rules ----------------------------------------------------------------------------------------


async def test_unparsable_phone_with_a_good_email_is_kept_and_flagged(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    response = await http.post(tenant.lead_url, json={"phone": "call me maybe", "email": "x@example.com"})
    assert response.status_code == 201, response.text
    [contact] = await rows(engine, "SELECT phone, phone_raw, phone_invalid, email FROM contacts")
    assert contact == {
        "phone": None,
        "phone_raw": "call me maybe",
        "phone_invalid": True,
        "email": "x@example.com",
    }


async def test_dedupe_by_phone_merges_and_never_loses_a_value(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    first = await http.post(tenant.lead_url, json={"contact": {"name": "Jane", "phone": "0430 363 930"}})
    second = await http.post(
        tenant.lead_url,
        json={
            "contact": {
                "name": "Janet",
                "phone": "+61 430 363 930",
                "email": "jane@example.com",
                "city": "Perth",
            }
        },
    )
    assert first.json()["contact_id"] == second.json()["contact_id"]
    assert first.json()["lead_id"] != second.json()["lead_id"]
    [contact] = await rows(engine, "SELECT name, email, city, phone FROM contacts")
    assert contact == {"name": "Jane", "email": "jane@example.com", "city": "Perth", "phone": "+61430363930"}
    assert (await counts(engine))[:2] == (1, 2)


async def test_dedupe_by_email_then_the_contact_gains_a_phone(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    first = await http.post(tenant.lead_url, json={"email": "Kim@Example.com"})
    second = await http.post(tenant.lead_url, json={"email": " kim@example.com", "name": "Kim"})
    third = await http.post(tenant.lead_url, json={"email": "kim@example.com", "phone": "0430 555 666"})
    fourth = await http.post(tenant.lead_url, json={"email": "kim@example.com"})
    ids = {response.json()["contact_id"] for response in (first, second, third, fourth)}
    assert len(ids) == 1
    [contact] = await rows(engine, "SELECT name, email, phone FROM contacts")
    assert contact == {"name": "Kim", "email": "kim@example.com", "phone": "+61430555666"}
    assert (await counts(engine))[:2] == (1, 4)


async def test_contacts_are_per_tenant(http, make_tenant, engine) -> None:
    one, two = await make_tenant(), await make_tenant()
    a = await http.post(one.lead_url, json={"phone": "+61430363930"})
    b = await http.post(two.lead_url, json={"phone": "+61430363930"})
    assert a.json()["contact_id"] != b.json()["contact_id"]


async def test_a_changed_region_takes_effect_at_once(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    assert (await http.post(tenant.lead_url, json={"phone": "0430 363 930"})).status_code == 201
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE tenants SET settings = CAST(:settings AS jsonb) WHERE id = :id"),
            {
                "id": tenant.id,
                "settings": json.dumps(TenantSettings(default_region="NZ").to_json()),
            },
        )
    assert (await http.post(tenant.lead_url, json={"phone": "021 123 4567"})).status_code == 201
    phones = {row["phone"] for row in await rows(engine, "SELECT phone FROM contacts")}
    assert phones == {"+61430363930", "+64211234567"}


# --- idempotency ----------------------------------------------------------------------------------


async def test_idempotency_key_repeat_answers_the_same_lead_and_writes_nothing(
    http, make_tenant, engine
) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    headers = {"Idempotency-Key": "delivery-42"}
    first = await http.post(tenant.lead_url, json={"phone": "0430 363 930"}, headers=headers)
    before = await counts(engine)
    again = await http.post(
        tenant.lead_url, json={"phone": "0430 999 999", "email": "new@example.com"}, headers=headers
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert await counts(engine) == before == (1, 1, 1)
    [contact] = await rows(engine, "SELECT email FROM contacts")
    assert contact["email"] is None


@pytest.mark.parametrize(
    ("payload", "repeat"),
    [
        (
            {"contact": {"phone": "+61430000001"}, "lead": {"id": "fb-77"}},
            {"contact": {"phone": "+61430000002"}, "lead": {"id": "fb-77"}},
        ),
        ({"phone": "+61430000001", "external_id": 12}, {"phone": "+61430000002", "external_id": "12"}),
        ({"phone": "+61430000001", "leadgen_id": "L9"}, {"email": "a@b.co", "leadgen_id": "L9"}),
    ],
)
async def test_a_source_id_seen_again_is_a_duplicate(http, make_tenant, engine, payload, repeat) -> None:
    tenant = await make_tenant()
    first = await http.post(tenant.lead_url, json=payload)
    again = await http.post(tenant.lead_url, json=repeat)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["lead_id"] == first.json()["lead_id"]
    assert await counts(engine) == (1, 1, 1)


async def test_keys_are_per_tenant(http, make_tenant, engine) -> None:
    one, two = await make_tenant(), await make_tenant()
    headers = {"Idempotency-Key": "same"}
    a = await http.post(one.lead_url, json={"phone": "+61430000001"}, headers=headers)
    b = await http.post(two.lead_url, json={"phone": "+61430000001"}, headers=headers)
    assert (a.status_code, b.status_code) == (201, 201)


# --- errors ---------------------------------------------------------------------------------------


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_unknown_and_inactive_tokens_get_the_same_404(http, make_tenant, engine) -> None:
    tenant = await make_tenant()
    assert (await http.post(tenant.lead_url, json={"phone": "+61430000001"})).status_code == 201
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE lead_webhooks SET active = false WHERE id = :id"), {"id": tenant.webhook.id}
        )
    inactive = await http.post(tenant.lead_url, json={"phone": "+61430000002"})
    inactive_national = await http.post(tenant.lead_url, json={"phone": "0430 000 003"})
    unknown = await http.post("/webhooks/lead/" + "x" * 32, json={"phone": "+61430000002"})
    unknown_bad_body = await http.post("/webhooks/lead/" + "x" * 32, json={"name": "no contact point"})
    for response in (inactive, inactive_national, unknown, unknown_bad_body):
        assert response.status_code == 404
        assert response.json() == unknown.json()
    assert error(unknown)["code"] == "NOT_FOUND"
    assert (await counts(engine))[1] == 1


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"contact": ', "application/json"),
        (b"[]", "application/json"),
        (b'{"name": "\\u0000"}', "application/json"),
        (b"name=%ff", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies_get_400(http, make_tenant, engine, content, content_type) -> None:
    tenant = await make_tenant()
    response = await http.post(tenant.lead_url, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert error(response)["code"] == "BAD_REQUEST"
    assert await counts(engine) == (0, 0, 0)


async def test_other_content_types_get_415(http, make_tenant) -> None:
    tenant = await make_tenant()
    response = await http.post(
        tenant.lead_url, content=b"<lead/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415
    assert error(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_no_usable_phone_or_email_gets_422_naming_the_fields(http, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    missing = await http.post(tenant.lead_url, json={"contact": {"name": "Nobody"}})
    unusable = await http.post(tenant.lead_url, json={"phone": "12", "email": "nope"})
    assert (missing.status_code, unusable.status_code) == (422, 422)
    assert error(missing)["code"] == "BAD_USER_INPUT"
    assert set(error(missing)["fields"]) == {"phone", "email"}
    assert error(unusable)["fields"] == {"phone": "not a phone number", "email": "not an email address"}
    too_long = await http.post(
        tenant.lead_url, json={"phone": "+61430000001"}, headers={"Idempotency-Key": "k" * 300}
    )
    assert too_long.status_code == 422
    assert "Idempotency-Key" in error(too_long)["fields"]
    assert await counts(engine) == (0, 0, 0)


async def test_bodies_over_64_kib_get_413_by_declared_length(http, make_tenant, engine) -> None:
    tenant = await make_tenant()
    response = await http.post(tenant.lead_url, json={"phone": "+61430000001", "notes": "x" * 70_000})
    assert response.status_code == 413
    assert error(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert await counts(engine) == (0, 0, 0)


async def test_bodies_over_64_kib_get_413_while_streaming_without_a_length(
    make_app, make_tenant, engine
) -> None:
    tenant = await make_tenant()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"phone": "+61430000001", "notes": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    async with serve(make_app(**MEMORY)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            tenant.lead_url, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        small = await client.post(tenant.lead_url, json={"phone": "+61430000001"})
        assert small.status_code == 201
    assert (await counts(engine))[1] == 1


async def test_database_down_gets_503_json_and_writes_nothing(make_app, make_tenant) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    dead = make_app(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", **MEMORY)
    async with running(dead) as (client, _):
        international = await client.post(tenant.lead_url, json={"phone": "+61430000001"})
        national = await client.post(tenant.lead_url, json={"phone": "0430 000 001"})
    for response in (international, national):
        assert response.status_code == 503
        assert error(response)["code"] == "UNAVAILABLE"
        assert response.headers["retry-after"] == "5"


# --- the event ------------------------------------------------------------------------------------


async def test_lead_created_reaches_a_subscriber_with_both_snapshots(make_app, make_tenant, engine) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    clock = FixedClock(datetime(2026, 3, 2, 1, 30, 15, tzinfo=UTC))
    # This checks the relay -> bus -> subscriber path; the Redis backend is issue 6's.
    async with (
        running(make_app(clock=clock, **MEMORY)) as (client, state),
        state["bus"].listen(frozenset({tenant.id})) as inbox,
    ):
        response = await client.post(
            tenant.lead_url, content=CURL_BODY, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 201
        event = await asyncio.wait_for(inbox.get(), timeout=5)
    [lead] = await rows(engine, "SELECT * FROM leads")
    [contact] = await rows(engine, "SELECT * FROM contacts")
    assert event.type is EventType.LEAD_CREATED
    assert event.tenant_id == tenant.id
    assert event.seq == 1
    # Built in SQL; must equal what persistence.snapshots.snapshot() makes of the same rows.
    assert event.payload == {"lead": snapshot(lead, exclude=LEAD_EXCLUDED), "contact": snapshot(contact)}
    assert "raw_data" not in event.payload["lead"]
    assert event.payload["lead"]["created_at"] == "2026-03-02T01:30:15+00:00"
    [stored] = await rows(engine, "SELECT seq, type FROM events")
    assert stored == {"seq": 1, "type": "LEAD_CREATED"}


async def test_event_snapshots_keep_microseconds_like_python(clocked, make_tenant, engine) -> None:
    http, state = clocked
    tenant = await make_tenant()
    assert (await http.post(tenant.lead_url, json={"phone": "+61430000001"})).status_code == 201
    await state["relay"].flush()
    [event] = await rows(engine, "SELECT payload FROM events")
    [lead] = await rows(engine, "SELECT * FROM leads")
    assert event["payload"]["lead"] == snapshot(lead, exclude=LEAD_EXCLUDED)
    assert event["payload"]["lead"]["created_at"] == "2026-03-02T01:30:15.120000+00:00"


async def test_values_no_index_can_hold_are_refused_not_crashed_on(http, make_tenant, engine) -> None:
    tenant = await make_tenant()
    for path in ("/webhooks/lead/%00abc", "/webhooks/lead/" + "a" * 5000):
        response = await http.post(path, json={"phone": "+61430000001"})
        assert response.status_code == 404
    long_email = await http.post(tenant.lead_url, json={"email": "a" * 3000 + "@example.com"})
    assert long_email.status_code == 422
    assert error(long_email)["fields"]["email"] == "not an email address"
    long_id = await http.post(tenant.lead_url, json={"phone": "+61430000001", "external_id": "x" * 3000})
    assert long_id.status_code == 422
    assert "external_id" in error(long_id)["fields"]
    assert await counts(engine) == (0, 0, 0)


def test_the_docs_show_the_tested_curl_body() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "leads.md").read_text()
    assert f"-d '{CURL_BODY}'" in docs
