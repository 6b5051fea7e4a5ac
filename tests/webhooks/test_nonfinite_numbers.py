"""Numbers jsonb cannot store (NaN, Infinity) in a signed Dialpad event answer 400, not 500
(found by the fuzz suite, tests/fuzz)."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import text

from tests.dialpad_samples import sample
from tests.fuzz.strategies import compact_jwt

SECRET = "dialpad-secret-for-tests"


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "infinity", "-infinity"]
)
async def test_a_signed_event_with_a_non_finite_number_answers_400_and_stores_nothing(
    live_server: str, make_tenant, engine, value: float
) -> None:
    tenant = await make_tenant()
    claims = sample("outbound-3-hangup")
    claims["mos_score"] = value
    # Python's json writes NaN / Infinity, as a client in Python would send them.
    body = compact_jwt({"alg": "HS256", "typ": "JWT"}, json.dumps(claims).encode(), SECRET)
    async with httpx.AsyncClient(base_url=live_server) as http:
        answer = await http.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=body)
    assert answer.status_code == 400, answer.text
    assert "not finite" in answer.json()["error"]["message"]
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM call_events"))).scalar_one() == 0
