"""Concurrent lead posts against a real uvicorn: one contact per new phone, one lead per idempotency key."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import serve

# make_app(redis_url=None): see MEMORY in test_lead_webhook.py (a Redis-backend shutdown hang).


async def _post_all(base_url: str, path: str, payloads: Sequence[Mapping[str, Any]], **kwargs: Any):
    # One connection per request, so the server really handles them at the same time.
    async def post(payload: Mapping[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return await client.post(path, json=payload, **kwargs)

    return await asyncio.gather(*(post(payload) for payload in payloads))


async def _count(engine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def test_twenty_concurrent_posts_of_one_new_phone_make_one_contact_and_twenty_leads(
    make_app, make_tenant, engine
) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    payloads = [
        {"contact": {"name": f"Caller {n}", "phone": "0430 363 930", "email": "race@example.com"}}
        for n in range(20)
    ]
    async with serve(make_app(redis_url=None)) as base_url:
        responses = await _post_all(base_url, tenant.lead_url, payloads)
    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.json()["contact_id"] for response in responses}) == 1
    assert len({response.json()["lead_id"] for response in responses}) == 20
    assert await _count(engine, "SELECT count(*) FROM contacts") == 1
    assert await _count(engine, "SELECT count(*) FROM leads") == 20
    assert await _count(engine, "SELECT count(*) FROM events WHERE type = 'LEAD_CREATED'") == 20


async def test_concurrent_email_only_posts_make_one_contact(make_app, make_tenant, engine) -> None:
    tenant = await make_tenant()
    payloads = [{"email": "Same@Example.com", "name": f"N{n}"} for n in range(12)]
    async with serve(make_app(redis_url=None)) as base_url:
        responses = await _post_all(base_url, tenant.lead_url, payloads)
    assert [response.status_code for response in responses] == [201] * 12
    assert await _count(engine, "SELECT count(*) FROM contacts") == 1
    assert await _count(engine, "SELECT count(*) FROM leads") == 12


async def test_concurrent_repeats_of_one_idempotency_key_store_one_lead(
    make_app, make_tenant, engine
) -> None:
    tenant = await make_tenant(timezone="Australia/Perth")
    # Different phones: a loser's contact merge would leave an orphan contact if it were not undone.
    payloads = [{"phone": f"0430 000 {n:03d}"} for n in range(12)]
    async with serve(make_app(redis_url=None)) as base_url:
        responses = await _post_all(
            base_url, tenant.lead_url, payloads, headers={"Idempotency-Key": "retry-1"}
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 11 + [201]
    assert len({response.json()["lead_id"] for response in responses}) == 1
    assert await _count(engine, "SELECT count(*) FROM leads") == 1
    assert await _count(engine, "SELECT count(*) FROM contacts") == 1
    assert await _count(engine, "SELECT count(*) FROM events") == 1
