"""SLA alerts: a lead past its tenant's SLA with no attempt gets exactly one SLA_BREACHED, published
like any event, and neither a second server process nor a restart repeats or misses one."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from domain.events import EventType
from domain.tenants import TenantSettings
from tests.conftest import TEST_JWT_SECRET, free_port
from tests.support_leads import MovableClock, eventually, insert_lead, scalar

REPO = Path(__file__).resolve().parents[2]


async def test_a_lead_past_its_sla_with_no_attempt_is_alerted_once(make_app, make_tenant, engine) -> None:
    clock = MovableClock()
    tight = await make_tenant(settings=TenantSettings(sla_seconds=60))
    loose = await make_tenant(settings=TenantSettings(sla_seconds=3600))
    waiting = await insert_lead(engine, tight.id)
    attempted = await insert_lead(
        engine, tight.id, first_attempt_at=datetime.now(UTC) + timedelta(seconds=30)
    )
    young = await insert_lead(engine, loose.id)

    # The bus is what subscriptions listen to; the in-process one keeps this test about the sweep.
    app = make_app(clock=clock, sla_sweep_seconds=0.05, redis_url=None)
    async with LifespanManager(app) as manager:
        received: list[object] = []
        async with manager._state["bus"].listen(frozenset({tight.id})) as inbox:
            await asyncio.sleep(0.3)
            assert await scalar(engine, "SELECT count(*) FROM leads WHERE sla_breached_at IS NOT NULL") == 0

            clock.offset = timedelta(seconds=61)
            received.append(await asyncio.wait_for(inbox.get(), timeout=10))
            await asyncio.sleep(0.3)  # several more sweeps: none may alert again
            assert inbox.pending() == 0

    [event] = received
    assert event.type is EventType.SLA_BREACHED  # type: ignore[attr-defined]
    payload = event.payload  # type: ignore[attr-defined]
    assert payload["lead"]["id"] == waiting["id"]
    assert payload["contact"]["name"] == "Ada Lovelace"
    assert payload["changes"] == ["sla_breached_at"]
    assert "raw_data" not in payload["lead"]
    # The deadline is stored, not the moment the sweep noticed.
    deadline = datetime.fromisoformat(waiting["created_at"]) + timedelta(seconds=60)
    assert datetime.fromisoformat(payload["lead"]["sla_breached_at"]) == deadline
    assert await scalar(engine, "SELECT count(*) FROM events WHERE type = 'SLA_BREACHED'") == 1
    assert (
        await scalar(engine, "SELECT sla_breached_at FROM leads WHERE id = :id", id=waiting["id"]) == deadline
    )
    for lead in (attempted, young):
        assert await scalar(engine, "SELECT sla_breached_at FROM leads WHERE id = :id", id=lead["id"]) is None


@asynccontextmanager
async def server_process(database_url: str) -> AsyncIterator[str]:
    """`python -m uvicorn calltrax.app:app_from_env --factory`, as a deployment runs a replica."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="calltrax-sla-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CALLTRAX_JWT_SECRET": TEST_JWT_SECRET,
        "CALLTRAX_SLA_SWEEP_SECONDS": "0.05",
        "CALLTRAX_DATA_DIR": data_dir,
        "REDIS_URL": "",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "uvicorn", "calltrax.app:app_from_env", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        env=env,
        cwd=REPO,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:

            async def up() -> bool:
                assert process.returncode is None, "the server process exited"
                try:
                    return (await http.get(f"{base_url}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, within=30, interval=0.1)
        yield base_url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _overdue_leads(engine, tenants, count: int) -> list[str]:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for n in range(count):
        lead = await insert_lead(engine, tenants[n % len(tenants)].id, created_at=long_ago)
        ids.append(lead["id"])
    return ids


async def _all_alerted_and_numbered(engine, expected: int) -> bool:
    breached = await scalar(engine, "SELECT count(*) FROM leads WHERE sla_breached_at IS NOT NULL")
    numbered = await scalar(
        engine, "SELECT count(*) FROM events WHERE type = 'SLA_BREACHED' AND seq IS NOT NULL"
    )
    return bool(breached == expected and numbered == expected)


async def _assert_one_event_per_breached_lead(engine, expected: int) -> None:
    assert await scalar(engine, "SELECT count(*) FROM events WHERE type = 'SLA_BREACHED'") == expected
    assert (
        await scalar(
            engine,
            "SELECT count(DISTINCT payload -> 'lead' ->> 'id') FROM events WHERE type = 'SLA_BREACHED'",
        )
        == expected
    )
    # Every breached lead has its event, and no event names a lead that was not breached.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM leads l JOIN events e ON e.type = 'SLA_BREACHED' "
            "AND e.payload -> 'lead' ->> 'id' = l.id::text WHERE l.sla_breached_at IS NOT NULL",
        )
        == expected
    )
    # Each tenant's history stays dense.
    assert await scalar(
        engine,
        "SELECT bool_and(n = max_seq) FROM (SELECT count(*) AS n, max(seq) AS max_seq FROM events GROUP BY tenant_id) s",
    )


@pytest.mark.slow
async def test_two_server_processes_and_a_restart_alert_each_lead_exactly_once(
    database_url, make_tenant, engine
) -> None:
    tenants = [await make_tenant(settings=TenantSettings(sla_seconds=300)) for _ in range(3)]
    quick = await make_tenant(settings=TenantSettings(sla_seconds=2))

    async with server_process(database_url), server_process(database_url):
        # Leads arrive while both replicas sweep, in several waves.
        first = await _overdue_leads(engine, tenants, 150)
        await asyncio.sleep(0.2)
        second = await _overdue_leads(engine, tenants, 150)
        fresh = await insert_lead(engine, tenants[0].id)  # within its SLA: no alert
        await eventually(lambda: _all_alerted_and_numbered(engine, len(first) + len(second)), within=30)
        await asyncio.sleep(0.5)
    await _assert_one_event_per_breached_lead(engine, 300)

    # While no server runs: more overdue leads, and some whose SLA runs out during the outage.
    during = await _overdue_leads(engine, tenants, 60)
    expiring = [(await insert_lead(engine, quick.id))["id"] for _ in range(5)]
    # Until their 2 s SLA has run out by the database's clock (what the sweep compares with).
    await eventually(
        lambda: scalar(
            engine,
            "SELECT now() > max(created_at) + interval '2 seconds' FROM leads WHERE tenant_id = :tenant",
            tenant=quick.id,
        ),
        within=30,
    )

    async with server_process(database_url):
        await eventually(
            lambda: _all_alerted_and_numbered(engine, 300 + len(during) + len(expiring)), within=30
        )
        await asyncio.sleep(0.5)
    await _assert_one_event_per_breached_lead(engine, 365)
    assert await scalar(engine, "SELECT sla_breached_at FROM leads WHERE id = :id", id=fresh["id"]) is None


async def test_a_lead_spoken_with_within_its_sla_is_never_alerted(make_app, make_tenant, engine) -> None:
    """The lead phones in a minute after the form and an agent answers (72 s): never dialled, but
    within the SLA, so no SLA_BREACHED; a lead nobody spoke with is alerted as before."""
    from tests.dialpad_samples import sign
    from tests.webhooks import call_shapes
    from tests.webhooks.test_dialpad import SECRET
    from tests.webhooks.test_dialpad import insert_lead as insert_lead_for

    clock = MovableClock()
    tenant = await make_tenant(settings=TenantSettings(sla_seconds=120))
    created = datetime.now(UTC)
    _, spoken = await insert_lead_for(engine, tenant.id, call_shapes.PERSON, created)
    _, silent = await insert_lead_for(engine, tenant.id, call_shapes.OTHER_PERSON, created)
    events = call_shapes.lead_calls_in(int((created + timedelta(seconds=60)).timestamp() * 1000)).events
    app = make_app(clock=clock, sla_sweep_seconds=0.05, redis_url=None)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for event in events:
                answer = await http.post(
                    f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(event, SECRET)
                )
                assert answer.status_code == 200
        clock.offset = timedelta(seconds=121)

        async def alerted() -> bool:
            return bool(await scalar(engine, "SELECT count(*) FROM events WHERE type = 'SLA_BREACHED'") == 1)

        await eventually(alerted, within=10, interval=0.05)
        await asyncio.sleep(0.3)  # several more sweeps
    assert await scalar(engine, "SELECT count(*) FROM events WHERE type = 'SLA_BREACHED'") == 1
    assert await scalar(engine, "SELECT sla_breached_at FROM leads WHERE id = :id", id=spoken) is None
    assert await scalar(engine, "SELECT status FROM leads WHERE id = :id", id=spoken) == "contacted"
    assert await scalar(engine, "SELECT sla_breached_at FROM leads WHERE id = :id", id=silent) is not None
