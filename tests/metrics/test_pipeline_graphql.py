"""`pipeline(tenantId)`: columns by age with the tenant's bounds, counts and pages agree, permissions."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.leads import StageBounds
from domain.tenants import TenantSettings
from tests.conftest import error_codes, graphql
from tests.metrics import dataset

BOARD = """
query ($tenantId: ID!, $first: Int, $after: String) {
  pipeline(tenantId: $tenantId) {
    tenantId
    columns {
      stage title count minAgeSeconds maxAgeSeconds
      leads(first: $first, after: $after) { totalCount edges { node { id status } } pageInfo { hasNextPage endCursor } }
    }
  }
}
"""

HOUR = 3600


async def _leads(
    engine: AsyncEngine, tenant_id: UUID, ages_and_statuses: list[tuple[float, str]], now: datetime
) -> dict[UUID, tuple[float, str]]:
    ids = {}
    async with engine.begin() as connection:
        for number, (hours, status) in enumerate(ages_and_statuses):
            contact = await dataset.insert_contact(connection, tenant_id, f"+1202557{number:04d}")
            lead = await dataset.insert_lead(
                connection, tenant_id, contact, now - timedelta(hours=hours), status=status
            )
            ids[lead] = (hours, status)
    return ids


async def test_open_leads_by_age_in_the_tenants_columns(
    clocked_client, clock, engine, make_tenant, make_user
):
    tenant = await make_tenant(timezone="America/New_York")
    other = await make_tenant()
    ages = [
        (0, "new"),
        (23.9, "contacted"),  # Follow Up 1: younger than a day
        (24, "new"),
        (71, "new"),  # 2: one to three days
        (72, "contacted"),
        (167, "new"),  # 3: three to seven days
        (168, "new"),
        (2000, "contacted"),  # 4: a week and more
        (1, "booked"),
        (30, "closed"),
        (500, "booked"),  # off the board
    ]
    ids = await _leads(engine, tenant.id, ages, clock.now())
    await _leads(engine, other.id, ages, clock.now())
    agent = await make_user("agent", tenants=[tenant])

    body = await graphql(clocked_client, BOARD, {"tenantId": str(tenant.id)}, user=agent)

    assert "errors" not in body, body
    columns = body["data"]["pipeline"]["columns"]
    assert [(c["stage"], c["title"], c["count"]) for c in columns] == [
        ("FOLLOW_UP_1", "Follow Up 1", 2),
        ("FOLLOW_UP_2", "Follow Up 2", 2),
        ("FOLLOW_UP_3", "Follow Up 3", 2),
        ("FOLLOW_UP_4", "Follow Up 4", 2),
    ]
    assert [(c["minAgeSeconds"], c["maxAgeSeconds"]) for c in columns] == [
        (0, 24 * HOUR),
        (24 * HOUR, 72 * HOUR),
        (72 * HOUR, 168 * HOUR),
        (168 * HOUR, None),
    ]
    for column, expected_hours in zip(columns, [(0, 23.9), (24, 71), (72, 167), (168, 2000)], strict=True):
        page = column["leads"]
        assert page["totalCount"] == column["count"]
        # Newest first.
        assert [ids[UUID(e["node"]["id"])][0] for e in page["edges"]] == list(expected_hours)
        assert {e["node"]["status"] for e in page["edges"]} <= {"NEW", "CONTACTED"}


async def test_stage_bounds_come_from_the_tenant_and_columns_page(
    clocked_client, clock, engine, make_tenant, make_user
):
    # Follow Up 1 < 1 h, 2 < 2 h, 3 < 3 h, 4 the rest.
    bounds = StageBounds(HOUR, 2 * HOUR, 3 * HOUR)
    tenant = await make_tenant(settings=TenantSettings(stage_bounds=bounds))
    await _leads(
        engine, tenant.id, [(0.1, "new"), (0.2, "new"), (0.3, "new"), (1.5, "new"), (10, "new")], clock.now()
    )
    client = await make_user("client", tenant=tenant)

    body = await graphql(clocked_client, BOARD, {"tenantId": str(tenant.id), "first": 2}, user=client)

    columns = body["data"]["pipeline"]["columns"]
    assert [c["count"] for c in columns] == [3, 1, 0, 1]
    first = columns[0]["leads"]
    assert len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    body = await graphql(
        clocked_client, BOARD, {"tenantId": str(tenant.id), "first": 2, "after": after}, user=client
    )
    rest = body["data"]["pipeline"]["columns"][0]["leads"]
    assert len(rest["edges"]) == 1
    assert rest["pageInfo"]["hasNextPage"] is False
    # Time passes: the youngest leads move on.
    clock.at += timedelta(hours=1)
    body = await graphql(clocked_client, BOARD, {"tenantId": str(tenant.id)}, user=client)
    assert [c["count"] for c in body["data"]["pipeline"]["columns"]] == [0, 3, 1, 1]


async def test_only_visible_tenants(clocked_client, make_tenant, make_user):
    mine = await make_tenant()
    theirs = await make_tenant()
    client = await make_user("client", tenant=mine)

    body = await graphql(clocked_client, BOARD, {"tenantId": str(theirs.id)}, user=client)
    assert error_codes(body) == ["FORBIDDEN"]
    admin = await make_user("admin")
    body = await graphql(
        clocked_client, BOARD, {"tenantId": "00000000-0000-0000-0000-000000000000"}, user=admin
    )
    assert error_codes(body) == ["NOT_FOUND"]
    body = await graphql(clocked_client, BOARD, {"tenantId": str(mine.id)})
    assert error_codes(body) == ["UNAUTHENTICATED"]
