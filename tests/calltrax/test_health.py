"""Health, readiness, metrics and request ids over HTTP."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from tests.conftest import AppFactory, free_port


async def test_healthz_and_readyz_answer_200(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_readyz_names_the_database_when_it_is_down(make_app: AppFactory) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = make_app(database_url=dead)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
            assert (await http.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unavailable")
    assert response.json()["checks"]["broker"] == "ok"


async def test_every_answer_carries_a_request_id_and_honours_the_callers(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.post("/webhooks/lead/not-a-token", json={})
    text = (await client.get("/metrics")).text
    assert 'calltrax_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "calltrax_http_request_duration_seconds_bucket" in text
    # Path parameters never become labels.
    assert "not-a-token" not in text


async def test_the_app_starts_while_redis_is_down_and_readyz_names_the_broker(make_app: AppFactory) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
            assert (await http.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unavailable")
    assert response.json()["checks"]["database"] == "ok"
