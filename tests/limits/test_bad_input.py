"""Hostile input answers 4xx or BAD_USER_INPUT, never 500 (issue 13, finding 5), over real HTTP and websockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
import time
from typing import Any

import httpx
import jwt
import pytest

from domain.tenants import TenantSettings
from tests.conftest import TEST_JWT_SECRET, error_codes
from tests.dialpad_samples import sample, sign
from tests.subscriptions.support import Closed, graphql_socket

SECRET = "dialpad-secret-for-tests"


@pytest.fixture
async def http(live_server: str) -> Any:
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        yield client


def _json_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_nul_in_a_path_parameter_is_not_found(http, make_tenant) -> None:
    await make_tenant()
    body = _json_error(await http.post("/webhooks/dialpad/%00", content=b"x.y.z"), 404)
    assert body["error"]["code"] == "NOT_FOUND"
    _json_error(await http.post("/webhooks/lead/%00", json={"phone": "+15555550100"}), 404)
    page = await http.get("/dashboard/%00")
    assert page.status_code == 404
    assert "Dashboard not found" in page.text


async def test_a_graphql_body_that_is_not_utf8_or_nests_too_deep_is_a_bad_request(http) -> None:
    headers = {"content-type": "application/json"}
    for raw in (
        b'{"query": "{ __typename }\xff\xfe"}',
        b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"query": "{ __typename }", "variables": {"x": ' + b"1" * 5000 + b"}}",
        b'{"query": "{ __typename }", "variables": {"x": 1e400}}',
        b'{"query": "{ __typename }", "variables": {"x": NaN}}',
    ):
        body = _json_error(await http.post("/graphql", content=raw, headers=headers), 400)
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST", body


@pytest.mark.parametrize(
    ("literal", "status"),
    [("1e400", 400), ("-1e400", 400), ("NaN", 400), ("Infinity", 400), ("1" * 5000, 400), ("-0", 201)],
)
async def test_lead_numbers_json_cannot_carry_are_refused(http, make_tenant, literal, status) -> None:
    tenant = await make_tenant()
    raw = '{"name": "Ann Lee", "phone": "+15555550100", "budget": ' + literal + "}"
    response = await http.post(tenant.lead_url, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"]["code"] == "BAD_REQUEST"


async def test_lead_nesting_past_the_stack_is_refused(http, make_tenant) -> None:
    tenant = await make_tenant()
    raw = '{"phone": "+15555550100", "x": ' + "[" * 30_000 + "]" * 30_000 + "}"
    response = await http.post(tenant.lead_url, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "key", ["call_id", "state", "master_call_id", "entry_point_call_id", "operator_call_id"]
)
async def test_dialpad_keys_too_long_for_an_index_are_refused(http, make_tenant, key) -> None:
    tenant = await make_tenant()
    claims = sample("outbound-1-calling")
    # Random letters: a repeated character would compress under PostgreSQL's index row limit.
    claims[key] = "".join(random.choices(string.ascii_letters, k=3000))
    response = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, SECRET))
    body = _json_error(response, 400)
    assert body["error"]["fields"] == {key: "at most 64 characters"}, body


async def test_dialpad_numbers_json_cannot_carry_are_refused(http, make_tenant) -> None:
    tenant = await make_tenant()
    claims = sample("outbound-1-calling")
    claims["duration"] = float("inf")
    # PyJWT writes it as `Infinity`, which Python reads back as a float and jsonb cannot hold.
    response = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, SECRET))
    assert _json_error(response, 400)["error"]["code"] == "BAD_USER_INPUT"


def _signed_raw(payload: bytes, secret: str) -> bytes:
    """A compact HS256 JWT around a payload no JSON encoder would write (nesting past the stack)."""

    def part(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + b"." + part(payload)
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return signing_input + b"." + part(signature)


async def test_dialpad_events_nesting_past_the_stack_are_refused(http, make_tenant) -> None:
    deep = b'{"call_id": 1, "state": "calling", "x": ' + b"[" * 60_000 + b"]" * 60_000 + b"}"
    signed = await make_tenant()
    response = await http.post(f"/webhooks/dialpad/{signed.tenant.slug}", content=_signed_raw(deep, SECRET))
    assert _json_error(response, 400)["error"]["code"] == "BAD_USER_INPUT"
    unsigned = await make_tenant(settings=TenantSettings(allow_unsigned_events=True))
    response = await http.post(f"/webhooks/dialpad/{unsigned.tenant.slug}", content=deep)
    assert _json_error(response, 400)["error"]["code"] == "BAD_USER_INPUT"


async def test_dialpad_numbers_that_are_no_phone_are_stored_without_a_contact(http, make_tenant) -> None:
    tenant = await make_tenant()
    claims = sample("outbound-1-calling")
    claims["external_number"] = "+" + "9" * 3000
    response = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(claims, SECRET))
    assert _json_error(response, 200)["success"] is True


ABSURD_CLAIMS = [
    pytest.param({"exp": 10**20}, id="exp-1e20"),
    pytest.param({"exp": 1e300}, id="exp-1e300"),
    pytest.param({"sub": "user\x00admin"}, id="nul-in-sub"),
    pytest.param({"sub": "u" * 5000}, id="long-sub"),
]


def _absurd_token(user_id: str, claims: dict[str, Any]) -> str:
    return jwt.encode(
        {"sub": user_id, "role": "admin", "exp": int(time.time()) + 600, **claims},
        TEST_JWT_SECRET,
        algorithm="HS256",
    )


@pytest.mark.parametrize("claims", ABSURD_CLAIMS)
async def test_signed_tokens_with_absurd_claims_are_unauthenticated(
    http, live_server, make_user, claims
) -> None:
    admin = await make_user("admin")
    token = _absurd_token(admin.user.id, claims)
    response = await http.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert error_codes(_json_error(response, 200)) == ["UNAUTHENTICATED"]
    export = await http.get("/export/leads.csv", headers={"Authorization": f"Bearer {token}"})
    assert _json_error(export, 401)["error"]["code"] == "UNAUTHENTICATED"
    async with graphql_socket(live_server, init=False) as socket:
        with pytest.raises(Closed) as closed:
            await socket.init(token)
        assert closed.value.code == 4403, closed.value


EXTREME_FILTERS = [
    '{ metrics(tenantId: "%(t)s", from: "0001-01-01T00:00:00Z", to: "0001-01-02T00:00:00Z") { leads } }',
    '{ metrics(tenantId: "%(t)s", to: "0001-01-01T00:00:00Z") { leads } }',
    '{ metrics(tenantId: "%(t)s", from: "9999-12-30T00:00:00Z", to: "9999-12-31T23:59:59Z") { leads } }',
    '{ tenant(id: "%(t)s") { metrics(from: "0001-01-01T00:00:00Z", to: "0001-01-02T00:00:00Z") { leads } } }',
    '{ leads(tenantId: "%(t)s", filter: {createdFrom: "0001-01-01T00:00:00+14:00"}) { totalCount } }',
    '{ leads(tenantId: "%(t)s", filter: {createdTo: "9999-12-31T23:59:59Z"}) { totalCount } }',
    '{ calls(tenantId: "%(t)s", filter: {startedFrom: "0001-01-01T00:00:00+14:00"}) { totalCount } }',
]


@pytest.mark.parametrize("timezone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_extreme_dates_in_filters_are_bad_user_input(http, make_tenant, make_user, timezone) -> None:
    tenant = await make_tenant(timezone=timezone)
    admin = await make_user("admin")
    for document in EXTREME_FILTERS:
        query = document % {"t": tenant.id}
        body = _json_error(await http.post("/graphql", json={"query": query}, headers=admin.headers), 200)
        assert set(error_codes(body)) == {"BAD_USER_INPUT"}, (query, body)
    as_variable = "query ($f: DateTime) { leads(filter: {createdFrom: $f}) { totalCount } }"
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "not a date"):
        response = await http.post(
            "/graphql", json={"query": as_variable, "variables": {"f": value}}, headers=admin.headers
        )
        assert error_codes(_json_error(response, 200)) == ["BAD_USER_INPUT"], response.text
    fine = "query ($f: DateTime) { leads(filter: {createdFrom: $f}) { totalCount } }"
    response = await http.post(
        "/graphql",
        json={"query": fine, "variables": {"f": "2026-01-01T00:00:00+14:00"}},
        headers=admin.headers,
    )
    assert response.json() == {"data": {"leads": {"totalCount": 0}}}
    export = await http.get(
        "/export/leads.csv",
        params={"tenantId": str(tenant.id), "createdFrom": "0001-01-01T00:00:00+14:00"},
        headers=admin.headers,
    )
    assert _json_error(export, 422)["error"]["fields"] == {
        "createdFrom": "must be from 1900-01-01 to before 9000-01-01 (UTC)"
    }


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_forged_cursors_beyond_the_columns_are_bad_user_input(http, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    key = "00000000-0000-0000-0000-000000000000"
    lists = {
        "leads": "query ($a: String) { leads(after: $a) { totalCount } }",
        "calls": "query ($a: String) { calls(after: $a) { totalCount } }",
        "deliveries": "query ($a: String, $t: ID!) { notificationDeliveries(tenantId: $t, after: $a) { totalCount } }",
    }
    forged = {
        "leads": [f"k1|0001-01-01T00:00:00+14:00|{key}", f"k1|9999-12-31T23:59:59-14:00|{key}"],
        "calls": [f"k1|0001-01-01T00:00:00+14:00|{key}", f"k1|2026-01-01T00:00:00|{key}"],
        # Past a bigint.
        "deliveries": ["delivery:" + "9" * 30],
    }
    for name, cursors in forged.items():
        for raw in cursors:
            variables = {"a": _cursor(raw), "t": str(tenant.id)}
            if name != "deliveries":
                del variables["t"]
            response = await http.post(
                "/graphql", json={"query": lists[name], "variables": variables}, headers=admin.headers
            )
            assert error_codes(_json_error(response, 200)) == ["BAD_USER_INPUT"], (raw, response.text)


async def test_user_ids_emails_and_names_too_long_to_index_are_bad_user_input(http, make_user) -> None:
    admin = await make_user("admin")
    noise = "".join(random.choices(string.ascii_lowercase, k=3000))
    mutation = "mutation ($i: UpsertUserInput!) { upsertUser(input: $i) { id } }"
    for given, field in (
        ({"email": f"{noise}@example.com", "role": "ADMIN"}, "email"),
        ({"email": "long-id@example.com", "role": "ADMIN", "id": noise}, "id"),
        ({"email": "long-name@example.com", "role": "ADMIN", "name": noise}, "name"),
    ):
        response = await http.post(
            "/graphql", json={"query": mutation, "variables": {"i": given}}, headers=admin.headers
        )
        body = _json_error(response, 200)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert field in body["errors"][0]["extensions"]["fields"]
