"""`Tenant.metrics` for many tenants in one statement, and `updateTenantSettings`."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import error_codes, graphql
from tests.metrics import dataset

OVERVIEW = """
query ($from: DateTime, $to: DateTime) {
  tenants { slug metrics(from: $from, to: $to) { leads connectionRate { value } speedToLead { medianSeconds } trend { day } } }
}
"""
UPDATE = """
mutation ($tenantId: ID!, $input: TenantSettingsInput!) {
  updateTenantSettings(tenantId: $tenantId, input: $input) {
    settings { slaSeconds bookedDispositions defaultRegion businessHours { day hours } stageBounds { stage maxAgeSeconds } }
  }
}
"""
METRICS = """
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {
  metrics(tenantId: $tenantId, from: $from, to: $to) { speedToLead { slaSeconds withinSla breached } businessHours { medianSeconds averageSeconds } }
}
"""
RANGE = {"from": dataset.RANGE_FROM.isoformat(), "to": dataset.RANGE_TO.isoformat()}


async def test_an_overview_of_every_tenant_is_one_metrics_statement(
    clocked_client, engine, make_tenant, make_user, statements
):
    tenants = [await make_tenant(slug=f"t{n}", timezone="America/New_York") for n in range(6)]
    for tenant in tenants[:3]:
        await dataset.load(engine, tenant.id)
    admin = await make_user("admin")

    statements.clear()
    body = await graphql(clocked_client, OVERVIEW, RANGE, user=admin)

    assert "errors" not in body, body
    found = {row["slug"]: row["metrics"] for row in body["data"]["tenants"]}
    assert [found[f"t{n}"]["leads"] for n in range(6)] == [9, 9, 9, 0, 0, 0]
    assert found["t0"]["speedToLead"]["medianSeconds"] == 16380.0
    assert found["t5"]["connectionRate"]["value"] is None
    assert all(len(row["trend"]) == 4 for row in found.values())
    metric_statements = [s for s in statements if "business_clock" in s]
    assert len(metric_statements) == 1
    # Authentication, the tenant list, the batch's tenants, JIT off, the metrics statement.
    assert len(statements) <= 6, statements


async def test_a_client_overview_holds_only_its_own_tenant(clocked_client, make_tenant, make_user):
    mine = await make_tenant(slug="mine")
    await make_tenant(slug="theirs")
    client = await make_user("client", tenant=mine)

    body = await graphql(clocked_client, OVERVIEW, {}, user=client)

    assert [row["slug"] for row in body["data"]["tenants"]] == ["mine"]
    assert len(body["data"]["tenants"][0]["metrics"]["trend"]) == 30


async def test_settings_change_and_the_metrics_follow(clocked_client, engine, make_tenant, make_user):
    tenant = await make_tenant(timezone="America/New_York")
    await dataset.load(engine, tenant.id)
    admin = await make_user("admin")
    variables = {
        "tenantId": str(tenant.id),
        "input": {
            "slaSeconds": 1200,
            "businessHours": {"saturday": ["00:00", "23:59"]},
            "stageBounds": [3600, 7200, 10800],
            "bookedDispositions": ["Sold", "appointment set"],
            "defaultRegion": "us",
        },
    }

    body = await graphql(clocked_client, UPDATE, variables, user=admin)

    assert "errors" not in body, body
    settings = body["data"]["updateTenantSettings"]["settings"]
    assert settings["slaSeconds"] == 1200
    assert settings["bookedDispositions"] == ["Sold", "appointment set"]
    assert settings["defaultRegion"] == "US"
    assert {row["day"]: row["hours"] for row in settings["businessHours"]}["saturday"] == ["00:00", "23:59"]
    assert {row["day"]: row["hours"] for row in settings["businessHours"]}["monday"] == []
    assert [row["maxAgeSeconds"] for row in settings["stageBounds"]] == [3600, 7200, 10800, None]
    async with engine.connect() as connection:
        events = (
            await connection.execute(text("SELECT type FROM events WHERE tenant_id = :t"), {"t": tenant.id})
        ).all()
    assert [row.type for row in events] == ["TENANT_UPDATED"]

    body = await graphql(clocked_client, METRICS, {"tenantId": str(tenant.id), **RANGE}, user=admin)
    speed = body["data"]["metrics"]["speedToLead"]
    # SLA 1200 s: L1, L5, L6 within; L2, L3, L7 late and L4, L9, L11 never attempted.
    assert (speed["slaSeconds"], speed["withinSla"], speed["breached"]) == (1200, 3, 6)
    # Open only on Saturdays now (00:00-23:59): L2 (Friday -> Monday) spans the whole opening,
    # L3 arrives at 23:59 as it closes, the other four attempted leads see none of it.
    assert body["data"]["metrics"]["businessHours"] == {
        "medianSeconds": 0.0,
        "averageSeconds": (86400 - 60) / 6,
    }

    # Only what is given changes; null clears the region.
    body = await graphql(
        clocked_client, UPDATE, {"tenantId": str(tenant.id), "input": {"defaultRegion": None}}, user=admin
    )
    settings = body["data"]["updateTenantSettings"]["settings"]
    assert (settings["slaSeconds"], settings["defaultRegion"]) == (1200, None)


async def test_bad_settings_name_every_bad_field_and_change_nothing(clocked_client, make_tenant, make_user):
    tenant = await make_tenant()
    admin = await make_user("admin")
    variables = {
        "tenantId": str(tenant.id),
        "input": {
            "slaSeconds": 0,
            "businessHours": {"monday": ["09:00"]},
            "stageBounds": [7200, 3600, 10800],
            "bookedDispositions": [],
            "defaultRegion": "XX",
        },
    }

    body = await graphql(clocked_client, UPDATE, variables, user=admin)

    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert set(body["errors"][0]["extensions"]["fields"]) == {
        "input.slaSeconds",
        "input.businessHours.monday",
        "input.stageBounds",
        "input.bookedDispositions",
        "input.defaultRegion",
    }
    body = await graphql(clocked_client, METRICS, {"tenantId": str(tenant.id)}, user=admin)
    assert body["data"]["metrics"]["speedToLead"]["slaSeconds"] == 300
    for hours in (["09:00"], ["17:00", "09:00"], ["9am", "5pm"], ["09:00", "24:00"]):
        body = await graphql(
            clocked_client,
            UPDATE,
            {"tenantId": str(tenant.id), "input": {"businessHours": {"tuesday": hours}}},
            user=admin,
        )
        assert list(body["errors"][0]["extensions"]["fields"]) == ["input.businessHours.tuesday"]


async def test_only_admins_change_settings(clocked_client, make_tenant, make_user):
    tenant = await make_tenant()
    for user in (await make_user("agent", tenants=[tenant]), await make_user("client", tenant=tenant)):
        body = await graphql(
            clocked_client, UPDATE, {"tenantId": str(tenant.id), "input": {"slaSeconds": 60}}, user=user
        )
        assert error_codes(body) == ["FORBIDDEN"]
