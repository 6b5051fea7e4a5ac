"""`previous` keeps whole tenant days in a timezone whose midnight is skipped (America/Santiago starts
summer time at 00:00, so 6 Sep 2026 begins at 01:00): an outside reviewer's probe over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.graph.factories import insert_lead

QUERY = """query($t: ID!, $f: DateTime, $to: DateTime) {
  metrics(tenantId: $t, from: $f, to: $to) { from to leads trend { day leads }
    previous { from to leads trend { day leads } } } }"""


async def test_the_previous_period_of_a_day_whose_midnight_is_skipped_is_the_whole_day_before(
    live_server: str, make_tenant: Any, make_user: Any, engine: Any
) -> None:
    """The range is tenant day 6 Sep, [01:00 -03, 00:00 -03 on 7 Sep) = [04:00Z, 03:00Z), which
    is what the default range and the trend call that day. Its previous period is tenant day 5 Sep,
    [00:00 -04, 01:00 -03) = [5 Sep 04:00Z, 6 Sep 04:00Z): it began an hour late (05:00Z, the same
    23 hours), so a lead at 00:30 on 5 Sep was in the trend's day but not in `previous`."""
    tenant = await make_tenant(timezone="America/Santiago")
    admin = await make_user("admin")
    # 5 Sep 00:30 -04 and 23:30 -04: both in tenant day 5 Sep.
    for at in (datetime(2026, 9, 5, 4, 30, tzinfo=UTC), datetime(2026, 9, 6, 3, 30, tzinfo=UTC)):
        await insert_lead(engine, tenant.id, created_at=at)
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as http:

        async def metrics_between(start: str, end: str) -> httpx.Response:
            variables = {"t": str(tenant.id), "f": start, "to": end}
            return await http.post(
                "/graphql", json={"query": QUERY, "variables": variables}, headers=admin.headers
            )

        response = await metrics_between("2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z")
        day_before = await metrics_between("2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z")
    metrics = response.json()["data"]["metrics"]
    assert [day["day"] for day in metrics["trend"]] == ["2026-09-06"]
    previous = metrics["previous"]
    assert previous["from"] == "2026-09-05T04:00:00+00:00"
    assert previous["to"] == "2026-09-06T04:00:00+00:00"
    assert previous["trend"] == [{"day": "2026-09-05", "leads": 2}]
    assert previous["leads"] == 2
    # The same day asked for by itself.
    assert day_before.json()["data"]["metrics"]["leads"] == 2
