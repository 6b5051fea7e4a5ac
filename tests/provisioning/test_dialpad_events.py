"""The Dialpad webhook URL provisioning answers, fed events signed as Dialpad signs them, records calls."""

from __future__ import annotations

from sqlalchemy import text

from domain.roles import Role
from tests.conftest import error_codes, graphql
from tests.dialpad_samples import OUTBOUND, sample, sign
from tests.fake_dialpad import FakeDialpad
from tests.provisioning.test_provision_client import DEPROVISION, PROVISION

CALL_ID = "5308476234735616"


async def test_the_returned_dialpad_url_records_calls_for_the_tenant(
    prov_client, fake_dialpad: FakeDialpad, make_user, make_tenant, engine
):
    admin = await make_user(Role.ADMIN)
    other = await make_tenant()
    body = await graphql(
        prov_client, PROVISION, {"input": {"name": "Acme Solar", "timezone": "Australia/Sydney"}}, user=admin
    )
    assert error_codes(body) == [], body
    result = body["data"]["provisionClient"]
    tenant_id = result["tenant"]["id"]
    path = result["webhooks"]["dialpadEvents"].removeprefix("http://testserver")
    assert path == "/webhooks/dialpad"
    # Dialpad signs with the secret the company webhook was created with.
    [webhook] = fake_dialpad.webhooks.values()
    assert webhook["hook_url"] == result["webhooks"]["dialpadEvents"]
    secret = webhook["signature"]["secret"]
    [call_center] = fake_dialpad.call_centers

    def on_our_call_center(name: str) -> dict[str, object]:
        claims = sample(name)
        claims["proxy_target"] = {"id": int(call_center), "type": "callcenter", "name": "Acme Solar"}
        return claims

    for name in OUTBOUND:
        response = await prov_client.post(path, content=sign(on_our_call_center(name), secret))
        assert response.status_code == 200, response.text
    forged = await prov_client.post(path, content=sign(on_our_call_center(OUTBOUND[0]), "not-the-secret"))
    assert forged.status_code == 401

    async with engine.connect() as connection:
        calls = (
            await connection.execute(text("SELECT tenant_id, external_id, status, direction FROM calls"))
        ).all()
    assert [(str(c.tenant_id), c.external_id, c.status, c.direction) for c in calls] == [
        (tenant_id, CALL_ID, "completed", "outbound")
    ]
    assert all(c.tenant_id != other.id for c in calls)

    # Deprovisioned: its call center is gone, so a new call on it reaches the tenant no more.
    body = await graphql(prov_client, DEPROVISION, {"id": tenant_id}, user=admin)
    assert body["data"]["deprovisionClient"]["status"] == "SUSPENDED", body
    late = on_our_call_center(OUTBOUND[0])
    late["call_id"] = 1
    response = await prov_client.post(path, content=sign(late, secret))
    assert response.status_code == 200
    assert response.json()["inbox"] == "NO_TENANT"
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM calls"))).scalar() == 1
