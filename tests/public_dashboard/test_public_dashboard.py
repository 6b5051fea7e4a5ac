"""Public links and the no-login dashboard query: who may share, what shows (figures, never a person), revocation."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from graph.schema import schema
from tests.conftest import error_codes, graphql
from tests.public_dashboard.support import REVOKE, create_link, seed_history

DASHBOARD = """
query ($token: String!) {
  publicDashboard(token: $token) {
    title timezone asOf
    pipeline { stage title count }
    metrics {
      tenantId from to leads
      speedToLead { averageSeconds medianSeconds p90Seconds attemptedLeads unattemptedLeads withinSla breached slaSeconds bands { label count } }
      businessHours { medianSeconds attemptedLeads }
      connectionRate { numerator denominator value }
      bookingRate { numerator denominator value }
      leadResponseRate { numerator denominator value }
      trend { day leads calls connected booked medianSpeedSeconds }
    }
  }
}
"""

# Field names that would describe or reach a person.
PERSONAL = re.compile(
    r"name|phone|email|note|contact|agent|author|user|recording|voicemail|number|city", re.I
)
# Figures about the act of reaching leads (a duration, a rate), not anybody's contact details.
CONTACT_FIGURES = {"timeToFirstContact", "businessHoursToFirstContact", "contactedWithinSla"}


def reachable_fields(type_name: str) -> dict[str, list[str]]:
    """Every object type reachable from `type_name` in the schema, with its field names."""
    graphql_schema = schema._schema
    found: dict[str, list[str]] = {}
    pending = [type_name]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        kind: Any = graphql_schema.get_type(name)
        fields = getattr(kind, "fields", None)
        if fields is None:
            continue
        found[name] = list(fields)
        for field in fields.values():
            inner: Any = field.type
            while hasattr(inner, "of_type"):
                inner = inner.of_type
            pending.append(inner.name)
    return found


def test_no_field_reachable_from_the_public_dashboard_names_or_reaches_a_person() -> None:
    types = reachable_fields("PublicDashboard")
    # The walk really covers the figures (a test that cannot fail is a defect).
    assert {
        "PublicDashboard",
        "PublicMetrics",
        "MissedCalls",
        "SpeedToLead",
        "Rate",
        "TrendDay",
        "PublicPipelineColumn",
    } <= set(types)
    assert not {"Lead", "Contact", "Call", "PipelineColumn"} & set(types)
    offending = {
        f"{name}.{field}"
        for name, fields in types.items()
        for field in fields
        if PERSONAL.search(field) and field not in CONTACT_FIGURES
    }
    assert offending == set()


async def test_the_dashboard_shows_figures_and_none_of_the_seeded_personal_details(
    client: httpx.AsyncClient, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant(name="Sunny Solar", timezone="Australia/Perth")
    seeded = await seed_history(engine, tenant.id)
    admin = await make_user("admin")
    link = await create_link(client, admin, tenant.id)
    assert link["url"] == f"http://testserver/dashboard/{link['token']}"
    assert len(link["token"]) >= 40

    body = await graphql(client, DASHBOARD, {"token": link["token"]})
    assert "errors" not in body, body
    dashboard = body["data"]["publicDashboard"]
    assert dashboard["title"] == "Sunny Solar"
    assert dashboard["timezone"] == "Australia/Perth"
    leads = sum(day["leads"] for day in dashboard["metrics"]["trend"])
    assert dashboard["metrics"]["leads"] == leads == len(seeded.pii) // 5
    assert dashboard["metrics"]["connectionRate"]["denominator"] == leads
    assert dashboard["metrics"]["bookingRate"]["numerator"] > 0
    assert [column["stage"] for column in dashboard["pipeline"]] == [
        "FOLLOW_UP_1",
        "FOLLOW_UP_2",
        "FOLLOW_UP_3",
        "FOLLOW_UP_4",
    ]
    assert sum(column["count"] for column in dashboard["pipeline"]) == leads
    text = json.dumps(body)
    leaked = [marker for marker in seeded.pii if marker in text]
    assert leaked == []
    # The same figures the tenant's own client sees through the logged-in API.
    owner = await make_user("client", tenant=tenant)
    own = await graphql(
        client,
        "query ($t: ID!) { metrics(tenantId: $t) { leads connectionRate { numerator denominator } } }",
        {"t": str(tenant.id)},
        user=owner,
    )
    assert own["data"]["metrics"]["leads"] == leads
    assert own["data"]["metrics"]["connectionRate"] == {
        key: dashboard["metrics"]["connectionRate"][key] for key in ("numerator", "denominator")
    }


async def test_unknown_and_revoked_tokens_are_not_found_at_once(
    client: httpx.AsyncClient, make_tenant, make_user
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    link = await create_link(client, admin, tenant.id)
    other = await create_link(client, admin, tenant.id)
    assert link["token"] != other["token"]
    for token in ("", "nope", "x" * 500, link["token"] + "x"):
        assert error_codes(await graphql(client, DASHBOARD, {"token": token})) == ["NOT_FOUND"]
    assert (await client.get(f"/dashboard/{link['token']}")).status_code == 200

    revoked = await graphql(client, REVOKE, {"id": link["id"]}, user=admin)
    assert revoked["data"]["revokePublicLink"]["revokedAt"] is not None
    assert error_codes(await graphql(client, DASHBOARD, {"token": link["token"]})) == ["NOT_FOUND"]
    page = await client.get(f"/dashboard/{link['token']}")
    assert page.status_code == 404
    assert "revoked" in page.text
    # Other links of the tenant keep working; revoking again changes nothing.
    assert "errors" not in await graphql(client, DASHBOARD, {"token": other["token"]})
    again = await graphql(client, REVOKE, {"id": link["id"]}, user=admin)
    assert again["data"]["revokePublicLink"]["revokedAt"] == revoked["data"]["revokePublicLink"]["revokedAt"]


@pytest.mark.parametrize(
    ("role", "own", "other"),
    [
        ("admin", None, None),
        ("agent", None, "FORBIDDEN"),
        ("client", "FORBIDDEN", "FORBIDDEN"),
    ],
)
async def test_admins_and_assigned_agents_manage_links(
    client: httpx.AsyncClient, make_tenant, make_user, role: str, own: str | None, other: str | None
) -> None:
    mine = await make_tenant()
    theirs = await make_tenant()
    admin = await make_user("admin")
    user = await make_user(role, tenant=mine, tenants=[mine] if role == "agent" else [])
    for tenant, expected in ((mine, own), (theirs, other)):
        created = await graphql(client, CREATE_ONLY_ID, {"t": str(tenant.id)}, user=user)
        assert error_codes(created) == ([expected] if expected else []), (role, created)
        link = await create_link(client, admin, tenant.id)
        revoked = await graphql(client, REVOKE, {"id": link["id"]}, user=user)
        # Someone who may not see the tenant learns nothing about the link (NOT_FOUND), a client
        # who may see it is refused.
        expected_revoke = (
            expected if expected is None or (role == "client" and tenant is mine) else "NOT_FOUND"
        )
        assert error_codes(revoked) == ([expected_revoke] if expected_revoke else []), (role, revoked)
    anonymous = await graphql(client, CREATE_ONLY_ID, {"t": str(mine.id)})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


CREATE_ONLY_ID = "mutation ($t: ID!) { createPublicLink(tenantId: $t) { id } }"
