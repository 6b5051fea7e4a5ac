"""Health, readiness, metrics and request ids over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from calltrax.observability import json_handler
from tests.conftest import AppFactory, free_port
from tests.support_leads import eventually


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


async def test_metrics_count_webhook_outcomes_by_kind(client: httpx.AsyncClient, make_tenant) -> None:
    tenant = await make_tenant()
    before = (await client.get("/metrics")).text
    assert (await client.post(tenant.lead_url, json={"phone": "+14155550123"})).status_code == 201
    assert (
        await client.post("/webhooks/lead/unknown-token", json={"phone": "+14155550123"})
    ).status_code == 404
    assert (
        await client.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=b"not a jwt")
    ).status_code == 400
    text = (await client.get("/metrics")).text

    def count(line: str, body: str) -> float:
        found = [row for row in body.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    for series in (
        'calltrax_webhook_outcomes_total{kind="lead",outcome="accepted"}',
        'calltrax_webhook_outcomes_total{kind="lead",outcome="rejected_404"}',
        'calltrax_webhook_outcomes_total{kind="dialpad",outcome="rejected_400"}',
    ):
        assert count(series, text) == count(series, before) + 1, series
    assert "calltrax_open_subscriptions" in text
    assert "calltrax_events_published_total" in text


async def _send_half_a_body(base_url: str, path: str) -> None:
    """A client that announces 1,000 bytes, sends 10 and goes away (a closed tab, a stopped load test)."""
    host, port = base_url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        'Content-Length: 1000\r\nX-Request-ID: gone-away\r\n\r\n{"name": "'.encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()


async def test_a_client_leaving_mid_request_is_a_client_event_not_a_server_error(
    live_server: str, make_tenant
) -> None:
    tenant = await make_tenant()
    with json_log_lines() as lines:
        for path in (tenant.lead_url, "/graphql"):
            await _send_half_a_body(live_server, path)
        async with httpx.AsyncClient(base_url=live_server) as http:

            async def both_counted() -> bool:
                metrics = (await http.get("/metrics")).text
                return all(
                    f'calltrax_http_requests_total{{method="POST",route="{route}",status="499"}}' in metrics
                    for route in ("/graphql", "/webhooks/lead/{token}")
                )

            await eventually(both_counted)
    assert [line for line in lines if line["level"] in ("error", "critical")] == []
    left = [line for line in lines if line["msg"].startswith("client disconnected")]
    assert [(line["level"], line["request_id"]) for line in left] == [("info", "gone-away")] * 2


@contextlib.contextmanager
def json_log_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON lines the server's own handler (calltrax.observability) writes meanwhile, at INFO."""
    output = io.StringIO()
    handler = json_handler(output)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(json.loads(line) for line in output.getvalue().splitlines())


async def test_every_log_line_a_request_causes_carries_its_request_id(
    client: httpx.AsyncClient, make_user
) -> None:
    """Not only the access line: a use case's own log line (here provisioning's) names the request."""
    with json_log_lines() as lines:
        answer = await client.post(
            "/graphql",
            json={
                "query": 'mutation { provisionClient(input: {name: "Logged Co", timezone: "UTC"}) { tenant { id } } }'
            },
            headers={**(await make_user("admin")).headers, "X-Request-ID": "trace-me-42"},
        )
        assert "errors" not in answer.json(), answer.text
        logging.getLogger("calltrax.test").info("outside any request")
    provisioned = [line for line in lines if line["msg"] == "tenant provisioned"]
    assert [line.get("request_id") for line in provisioned] == ["trace-me-42"]
    outside = [line for line in lines if line["msg"] == "outside any request"]
    assert "request_id" not in outside[0]


async def test_the_root_page_links_graphiql_health_and_the_docs(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for link in ('href="/graphql"', 'href="/healthz"', 'href="/readyz"', 'href="/metrics"'):
        assert link in page.text
    assert "docs/dialpad.md" in page.text
    assert "https://" not in page.text
    for target in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(target)).status_code == 200
