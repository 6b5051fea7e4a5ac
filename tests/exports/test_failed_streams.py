"""A failing or abandoned export releases its connection and says so: one bad row never takes the
service down (issue 13, finding 1)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exports.csv_rows import STREAM_FAILED
from tests.conftest import serve
from tests.dialpad_samples import sample, sign
from tests.graph.factories import insert_call, insert_lead

# What the Dialpad door stored before it bounded times: the last hours of year 9999 (UTC), which no
# timezone east of UTC can show (the local time would be in year 10000).
POISON = datetime(9999, 12, 31, 20, 0, tzinfo=UTC)
# outbound-1-calling's event_timestamp.
EVENT_TIME = datetime.fromtimestamp(1768492800.350, tz=UTC)
SECRET = "dialpad-secret-for-tests"

OURS_IDLE_IN_TRANSACTION = text(
    """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'calltrax'
      AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()
    """
)
EXPORT_BACKENDS = text(
    """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND query LIKE '%export_contact%'
      AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()
    """
)
BULK_LEADS = text(
    """
    WITH made AS (
        INSERT INTO contacts (tenant_id, phone, name)
        SELECT :tenant_id, '+1555' || lpad(g::text, 9, '0'), 'Bulk Person ' || g
        FROM generate_series(1, :rows) AS g
        RETURNING id
    )
    INSERT INTO leads (tenant_id, contact_id, source, status, notes, created_at)
    SELECT :tenant_id, id, 'bulk', 'new', repeat('a long note ', 100), now() - random() * interval '30 days'
    FROM made
    """
)


async def idle_in_transaction(engine: AsyncEngine) -> int:
    """Our sessions left idle in a transaction, polled for up to 2 s: a write or the event relay is
    briefly between statements, a leaked transaction stays."""
    for _ in range(40):
        async with engine.connect() as connection:
            found = int((await connection.execute(OURS_IDLE_IN_TRANSACTION)).scalar_one())
        if found == 0:
            return 0
        await asyncio.sleep(0.05)
    return found


async def export(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> tuple[int, str, bool]:
    """(status, body received, whether the transfer completed) of one export."""
    received = b""
    async with http.stream("GET", path, headers=headers) as response:
        try:
            async for chunk in response.aiter_raw():
                received += chunk
        except httpx.RemoteProtocolError:
            return response.status_code, received.decode(), False
    return response.status_code, received.decode(), True


async def test_a_poisoned_row_under_32_concurrent_exports_leaves_every_tenant_served(
    make_app, make_tenant, make_user, engine
) -> None:
    tokyo = await make_tenant(timezone="Asia/Tokyo")
    other = await make_tenant()
    client_user = await make_user("client", tenant=tokyo)
    await insert_lead(engine, tokyo.id)
    await insert_lead(engine, tokyo.id, first_attempt_at=POISON)
    await insert_call(engine, tokyo.id, lead_id=None)
    await insert_call(engine, tokyo.id, lead_id=None, started_at=POISON)
    paths = ["/export/leads.csv", "/export/calls.csv"] * 16
    async with serve(make_app()) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        gate = asyncio.Semaphore(16)

        async def one(path: str) -> tuple[int, str, bool]:
            async with gate:
                return await export(http, path, client_user.headers)

        results = await asyncio.gather(*(one(path) for path in paths))
        # Every tenant is still served at once: the pool has its connections back.
        lead = await http.post(other.lead_url, json={"name": "Ann", "phone": "+61412345678"}, timeout=4)
        assert lead.status_code in (200, 201), lead.text
        event = sign(sample("outbound-1-calling"), SECRET)
        call = await http.post(f"/webhooks/dialpad/{other.tenant.slug}", content=event, timeout=4)
        assert call.status_code == 200, call.text
        ready = await http.get("/readyz", timeout=4)
        assert ready.status_code == 200, ready.text
        assert await idle_in_transaction(engine) == 0
    for (status, body, complete), path in zip(results, paths, strict=True):
        assert status == 200
        assert complete, f"{path} was cut off: {body[-200:]!r}"
        rows = list(csv.DictReader(io.StringIO(body)))
        assert len(rows) == 2, body
        # The time no Tokyo clock can show is given in UTC rather than dropping the row.
        shown = rows[0]["first_attempt_at"] if "leads" in path else rows[0]["started_at"]
        shown = shown or rows[1].get("first_attempt_at", "")
        assert shown == "9999-12-31T20:00:00.000+00:00", rows


async def bulk_leads(engine: AsyncEngine, tenant_id: UUID, rows: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(BULK_LEADS, {"tenant_id": tenant_id, "rows": rows})


async def wait_for_no_export(engine: AsyncEngine) -> list[int]:
    """The export backends still busy after up to 3 s."""
    for _ in range(60):
        async with engine.connect() as connection:
            pids = [row[0] for row in await connection.execute(EXPORT_BACKENDS)]
        if not pids:
            return []
        await asyncio.sleep(0.05)
    return pids


async def test_an_export_whose_database_connection_dies_ends_with_a_visible_error(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    await bulk_leads(engine, tenant.id, 20_000)
    async with serve(make_app()) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        received = b""
        complete = True
        async with http.stream("GET", "/export/leads.csv", headers=admin.headers) as response:
            assert response.status_code == 200
            chunks = response.aiter_raw()
            received += await anext(chunks)
            await asyncio.sleep(0.3)
            async with engine.connect() as connection:
                pids = [row[0] for row in await connection.execute(EXPORT_BACKENDS)]
                assert len(pids) == 1, "the export should still be reading"
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            try:
                async for chunk in chunks:
                    received += chunk
            except httpx.RemoteProtocolError:
                complete = False
        assert await wait_for_no_export(engine) == []
        assert await idle_in_transaction(engine) == 0
        assert (await http.get("/readyz", timeout=4)).status_code == 200
    # Never silently short: the last line says the export stopped, and the transfer is left
    # incomplete so HTTP clients (curl, browsers) report a failed download too.
    assert not complete
    last = received.decode().rstrip("\r\n").rsplit("\n", 1)[-1]
    assert last.startswith(STREAM_FAILED), last


async def test_a_client_leaving_mid_export_releases_the_connection(
    make_app, make_tenant, make_user, engine
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    await bulk_leads(engine, tenant.id, 20_000)
    async with serve(make_app()) as base_url:
        for attempt in range(3):
            async with (
                httpx.AsyncClient(base_url=base_url, timeout=60) as http,
                http.stream("GET", "/export/leads.csv", headers=admin.headers) as response,
            ):
                assert response.status_code == 200
                chunks = response.aiter_raw()
                await anext(chunks)
                await asyncio.sleep(0.3)
                assert len(await export_backends(engine)) == 1, attempt
            # The client has gone (its connection closed): the server stops and gives the connection back.
        assert await wait_for_no_export(engine) == []
        assert await idle_in_transaction(engine) == 0


async def export_backends(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return [row[0] for row in await connection.execute(EXPORT_BACKENDS)]


@pytest.mark.parametrize(
    "claims",
    [
        {"date_started": 253_402_300_799_999},
        {"date_started": "9999-12-31T20:00:00Z"},
        {"date_started": "0001-01-01T00:00:00+05:00"},
        {"date_started": "0001-01-01T02:00:00Z"},
        {"date_started": 253_402_214_400_000},
    ],
    ids=["max-ms", "iso-9999", "iso-year-1-east", "iso-year-1", "ms-last-day"],
)
async def test_a_signed_event_with_a_time_no_timezone_can_show_is_stored_with_it_unknown(
    client: httpx.AsyncClient, make_tenant, engine, claims
) -> None:
    tenant = await make_tenant(timezone="Asia/Tokyo")
    body = sign(sample("outbound-1-calling") | claims, SECRET)
    answer = await client.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=body)
    assert answer.status_code == 200, answer.text
    async with engine.connect() as connection:
        started = (await connection.execute(text("SELECT started_at FROM calls"))).scalar_one()
    # The start is unknown, so the call started when its (known) event happened.
    assert started == EVENT_TIME


async def test_an_event_with_no_possible_time_has_its_start_unknown(
    client: httpx.AsyncClient, make_tenant, engine
):
    tenant = await make_tenant(timezone="Asia/Tokyo")
    claims = {"date_started": "9999-12-31T20:00:00Z", "event_timestamp": 253_402_300_799_999}
    answer = await client.post(
        f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(sample("outbound-1-calling") | claims, SECRET)
    )
    assert answer.status_code == 200, answer.text
    async with engine.connect() as connection:
        started = (await connection.execute(text("SELECT started_at FROM calls"))).scalar_one()
    assert started is None


@pytest.mark.parametrize(
    "claims",
    [
        {"start_time": "9999-12-31T20:00:00Z"},
        {"start_time": 253_402_300_799_999},
        {"start_time": "0001-01-01T00:00:00Z"},
    ],
    ids=["iso-9999", "max-ms", "iso-year-1"],
)
async def test_a_seed_event_with_an_impossible_time_is_stored_with_it_unknown(
    client: httpx.AsyncClient, make_tenant, engine, claims
) -> None:
    tenant = await make_tenant(timezone="Asia/Tokyo")
    body = sign({"call_id": "seed-1", "event_type": "ringing", "to_number": "+61412345678"} | claims, SECRET)
    answer = await client.post(f"/webhooks/dialpad/{tenant.tenant.slug}", content=body)
    assert answer.status_code == 200, answer.text
    async with engine.connect() as connection:
        started = (await connection.execute(text("SELECT started_at FROM calls"))).scalar_one()
    assert started is None
