"""Without a Dialpad key: provisioning runs against the simulated Dialpad and `calltrax simulate` drives the tenant."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from calltrax.simulate import load_credentials, simulate
from domain.roles import Role
from tests.provisioning.test_provision_client import PROVISION


async def test_a_simulated_tenant_takes_simulated_leads_and_calls(
    live_server, make_user, engine, database_url
):
    admin = await make_user(Role.ADMIN)
    async with httpx.AsyncClient(base_url=live_server, headers=admin.headers) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": PROVISION,
                "variables": {"input": {"name": "Sim Solar", "timezone": "Australia/Sydney"}},
            },
        )
    result = response.json()["data"]["provisionClient"]
    assert result["dialpadMode"] == "SIMULATED"
    assert result["tenant"]["status"] == "ACTIVE"

    credentials = await load_credentials(database_url, "sim-solar")
    assert result["webhooks"]["inboundLeads"].endswith(f"/webhooks/lead/{credentials.lead_token}")
    report = await simulate(credentials, base_url=live_server, leads=3, calls=5, rate=0, seed=7)
    assert report.events_failed == 0
    async with engine.connect() as connection:
        calls = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM calls JOIN tenants ON tenants.id = calls.tenant_id"
                    " WHERE slug = 'sim-solar' AND is_primary_leg"
                )
            )
        ).scalar_one()
    assert calls == 5
