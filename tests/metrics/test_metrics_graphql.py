"""`metrics` and `Tenant.metrics` through GraphQL: the hand-computed answers, permissions, batching."""

from __future__ import annotations

import pytest

from tests.conftest import error_codes, graphql
from tests.metrics import dataset

SPEED = "averageSeconds medianSeconds p90Seconds attemptedLeads unattemptedLeads withinSla breached slaSeconds bands { label count }"
RATE = "numerator denominator value"
METRICS = f"""
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {{
  metrics(tenantId: $tenantId, from: $from, to: $to) {{
    tenantId from to leads
    speedToLead {{ {SPEED} }}
    businessHours {{ {SPEED} }}
    connectionRate {{ {RATE} }} bookingRate {{ {RATE} }} leadResponseRate {{ {RATE} }}
    trend {{ day leads calls connected booked medianSpeedSeconds }}
  }}
}}
"""


def _range(tenant) -> dict[str, str]:
    return {
        "tenantId": str(tenant.id),
        "from": "2024-03-08T00:00:00-05:00",
        "to": dataset.RANGE_TO.isoformat(),
    }


async def test_the_hand_computed_answers(clocked_client, engine, make_tenant, make_user):
    acme = await make_tenant(timezone="America/New_York")
    other = await make_tenant(timezone="UTC")
    await dataset.load(engine, acme.id)
    await dataset.load(engine, other.id)
    admin = await make_user("admin")

    body = await graphql(clocked_client, METRICS, _range(acme), user=admin)

    assert "errors" not in body, body
    metrics = body["data"]["metrics"]
    assert metrics["leads"] == 9
    assert metrics["speedToLead"] == dataset.EXPECTED_SPEED
    assert metrics["businessHours"] == dataset.EXPECTED_BUSINESS
    for name, expected in dataset.EXPECTED_RATES.items():
        assert metrics[name] == pytest.approx(expected), name
    assert metrics["trend"] == dataset.EXPECTED_TREND
    assert metrics["from"] == "2024-03-08T05:00:00+00:00"


async def test_zero_denominators_give_null_values(clocked_client, make_tenant, make_user):
    empty = await make_tenant(timezone="Australia/Perth")
    client = await make_user("client", tenant=empty)

    body = await graphql(clocked_client, METRICS, {"tenantId": str(empty.id)}, user=client)

    metrics = body["data"]["metrics"]
    for name in ("connectionRate", "bookingRate", "leadResponseRate"):
        assert metrics[name] == {"numerator": 0, "denominator": 0, "value": None}
    assert metrics["speedToLead"]["medianSeconds"] is None
    assert metrics["businessHours"]["averageSeconds"] is None
    # The last 30 days in Perth (UTC+8): the clock's 2024-03-20 12:00Z is 20:00 there.
    assert len(metrics["trend"]) == 30
    assert metrics["trend"][-1]["day"] == "2024-03-20"
    assert metrics["to"] == "2024-03-20T16:00:00+00:00"


async def test_only_visible_tenants(clocked_client, make_tenant, make_user):
    mine = await make_tenant()
    theirs = await make_tenant()
    agent = await make_user("agent", tenants=[mine])
    client = await make_user("client", tenant=mine)

    for user in (agent, client):
        assert "errors" not in await graphql(clocked_client, METRICS, {"tenantId": str(mine.id)}, user=user)
        body = await graphql(clocked_client, METRICS, {"tenantId": str(theirs.id)}, user=user)
        assert error_codes(body) == ["FORBIDDEN"]
    body = await graphql(clocked_client, METRICS, {"tenantId": str(mine.id)})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_bad_ranges_name_the_argument(clocked_client, make_tenant, make_user):
    tenant = await make_tenant()
    admin = await make_user("admin")
    variables = {"tenantId": str(tenant.id), "from": "2024-03-02T00:00:00Z", "to": "2024-03-01T00:00:00Z"}

    body = await graphql(clocked_client, METRICS, variables, user=admin)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["fields"] == {"to": "must be after from"}
    body = await graphql(clocked_client, METRICS, {"tenantId": "nope"}, user=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"]
