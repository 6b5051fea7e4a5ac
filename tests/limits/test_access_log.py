"""Secret tokens in paths are cut short in the access log (issue 13, finding 7)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.conftest import graphql
from tests.public_dashboard.support import create_link


async def test_lead_and_dashboard_tokens_are_redacted_in_the_access_log(
    live_server, make_tenant, make_user, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    async with httpx.AsyncClient(base_url=live_server) as http:
        link = await create_link(http, admin, tenant.id)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="calltrax.access"):
            lead = await http.post(tenant.lead_url, json={"name": "Ann Lee", "phone": "+15555550100"})
            page = await http.get(f"/dashboard/{link['token']}")
            unknown = await http.get("/dashboard/not-a-real-token-but-still-secret")
            assert await graphql(http, "{ __typename }")
    assert (lead.status_code, page.status_code, unknown.status_code) == (201, 200, 404)
    lines = [json.loads(record.json_line) for record in caplog.records if hasattr(record, "json_line")]
    paths = [line["path"] for line in lines]
    token = tenant.webhook.token
    assert f"/webhooks/lead/{token[:4]}…" in paths, paths
    assert f"/dashboard/{link['token'][:4]}…" in paths, paths
    assert "/dashboard/not-…" in paths, paths
    logged = "\n".join(record.json_line for record in caplog.records if hasattr(record, "json_line"))
    for secret in (token, link["token"], "not-a-real-token-but-still-secret"):
        assert secret not in logged
