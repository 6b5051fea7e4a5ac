"""Pipeline stages: leads ageing into another column (or coming back to the board) reach subscribers
as leadChanged STAGE_CHANGED and pipelineChanged MOVED/ENTERED/LEFT with the column counts, once each,
across sweeps, server restarts and changes of the tenant's bounds."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import AppFactory
from tests.subscriptions.support import (
    LEAD_CHANGED,
    GraphQLSocket,
    Server,
    graphql_socket,
    running,
)
from tests.support_leads import MovableClock, eventually, scalar

PIPELINE = """
subscription ($tenantId: ID) {
  pipelineChanged(tenantId: $tenantId) { kind cursor leadId fromStage toStage columns { stage count } }
}
"""
STATUS = "mutation($l: ID!, $s: LeadStatus!) { updateLeadStatus(leadId: $l, status: $s) { id status stage } }"
SETTINGS = """
mutation ($tenantId: ID!, $input: TenantSettingsInput!) {
  updateTenantSettings(tenantId: $tenantId, input: $input) { settings { stageBounds { maxAgeSeconds } } }
}
"""
SWEEP = 0.05
HOUR = timedelta(hours=1)


async def _post_lead(server: Server, lead_url: str, phone: str) -> UUID:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(lead_url, json={"contact": {"name": "Jane Citizen", "phone": phone}})
    assert response.status_code == 201, response.text
    return UUID(response.json()["lead_id"])


def _counts(change: dict[str, Any]) -> list[int]:
    return [column["count"] for column in change["columns"]]


async def _stage_events(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT payload FROM events WHERE type = 'LEAD_STAGE_CHANGED' ORDER BY id")
        )
        return [row.payload for row in rows]


async def _stage(engine: AsyncEngine, lead_id: UUID) -> str | None:
    value: str | None = await scalar(engine, "SELECT stage FROM leads WHERE id = :id", id=lead_id)
    return value


async def _subscribe_board(socket: GraphQLSocket, server: Server, tenant_id: UUID, after: int = 0) -> None:
    await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(tenant_id), "after": after})
    await socket.subscribe("board", PIPELINE, {"tenantId": str(tenant_id)})
    await server.live(2)


async def test_a_lead_ageing_past_a_bound_moves_once_across_sweeps_and_a_restart(
    make_app: AppFactory, make_tenant, make_user, engine: AsyncEngine
) -> None:
    clock = MovableClock()
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])

    async with running(make_app(clock=clock, stage_sweep_seconds=SWEEP)) as server:
        async with graphql_socket(server.url, agent.token) as socket:
            await _subscribe_board(socket, server, tenant.id)
            old = await _post_lead(server, tenant.lead_url, "+61430363930")
            created = [await socket.data("leads"), await socket.data("board")]
            clock.offset = 12 * HOUR
            young = await _post_lead(server, tenant.lead_url, "+61430363931")
            created += [await socket.data("leads"), await socket.data("board")]
            assert [c["leadChanged"]["kind"] for c in created[::2]] == ["CREATED", "CREATED"]
            assert [
                (c["pipelineChanged"]["kind"], c["pipelineChanged"]["toStage"]) for c in created[1::2]
            ] == [
                ("ENTERED", "FOLLOW_UP_1"),
                ("ENTERED", "FOLLOW_UP_1"),
            ]
            assert await _stage(engine, old) == await _stage(engine, young) == "follow_up_1"
            # Several sweeps with nothing to move record nothing.
            await socket.nothing_for(0.3)

            # The old lead is now 25 hours old: Follow Up 2; the young one (13 hours) stays.
            clock.offset = 25 * HOUR
            lead_change = (await socket.data("leads"))["leadChanged"]
            board_change = (await socket.data("board"))["pipelineChanged"]
            await socket.nothing_for(0.5)  # ten more sweeps: none moves it again
        cursor = lead_change["cursor"]

    assert (lead_change["kind"], lead_change["lead"]["id"], lead_change["lead"]["stage"]) == (
        "STAGE_CHANGED",
        str(old),
        "FOLLOW_UP_2",
    )
    assert board_change["kind"] == "MOVED"
    assert (board_change["leadId"], board_change["cursor"]) == (str(old), cursor)
    assert (board_change["fromStage"], board_change["toStage"]) == ("FOLLOW_UP_1", "FOLLOW_UP_2")
    assert _counts(board_change) == [1, 1, 0, 0]
    [payload] = await _stage_events(engine)
    assert (payload["changes"], payload["from_stage"], payload["to_stage"]) == (
        ["stage"],
        "follow_up_1",
        "follow_up_2",
    )
    assert payload["lead"]["stage"] == "follow_up_2"
    assert payload["contact"]["name"] == "Jane Citizen"
    assert "raw_data" not in payload["lead"]
    assert await _stage(engine, old) == "follow_up_2"

    # A restarted server (same clock) sweeps again and finds nothing new; the next bound moves both.
    async with (
        running(make_app(clock=clock, stage_sweep_seconds=SWEEP)) as server,
        graphql_socket(server.url, agent.token) as socket,
    ):
        await _subscribe_board(socket, server, tenant.id, after=cursor)
        await socket.nothing_for(0.5)
        assert len(await _stage_events(engine)) == 1

        clock.offset = 73 * HOUR  # old: 73 h (Follow Up 3), young: 61 h (Follow Up 2)
        moves = [(await socket.data("leads"))["leadChanged"] for _ in range(2)]
        boards = [(await socket.data("board"))["pipelineChanged"] for _ in range(2)]
        await socket.nothing_for(0.5)

    assert {(m["kind"], m["lead"]["id"], m["lead"]["stage"]) for m in moves} == {
        ("STAGE_CHANGED", str(old), "FOLLOW_UP_3"),
        ("STAGE_CHANGED", str(young), "FOLLOW_UP_2"),
    }
    assert [m["cursor"] for m in moves] == [cursor + 1, cursor + 2]
    assert {(b["leadId"], b["kind"], b["fromStage"], b["toStage"]) for b in boards} == {
        (str(old), "MOVED", "FOLLOW_UP_2", "FOLLOW_UP_3"),
        (str(young), "MOVED", "FOLLOW_UP_1", "FOLLOW_UP_2"),
    }
    # Both moves committed together, so both deliveries count the board after them.
    assert [_counts(b) for b in boards] == [[0, 1, 1, 0], [0, 1, 1, 0]]
    assert len(await _stage_events(engine)) == 3


async def test_a_booked_lead_set_back_to_contacted_enters_the_column_of_its_age(
    make_app: AppFactory, make_tenant, make_user, engine: AsyncEngine
) -> None:
    clock = MovableClock()
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    # No sweep: the columns here come from the status changes alone.
    async with running(make_app(clock=clock)) as server:
        lead = await _post_lead(server, tenant.lead_url, "+61430363930")
        clock.offset = 48 * HOUR
        async with (
            graphql_socket(server.url, agent.token) as socket,
            httpx.AsyncClient(base_url=server.url, headers=agent.headers) as http,
        ):
            await socket.subscribe("board", PIPELINE, {"tenantId": str(tenant.id)})
            await server.live(1)

            async def set_status(status: str) -> dict[str, Any]:
                response = await http.post(
                    "/graphql", json={"query": STATUS, "variables": {"l": str(lead), "s": status}}
                )
                body = response.json()
                assert "errors" not in body, body
                result: dict[str, Any] = body["data"]["updateLeadStatus"]
                return result

            await set_status("BOOKED")
            left = (await socket.data("board"))["pipelineChanged"]
            assert await _stage(engine, lead) is None
            back = await set_status("CONTACTED")
            entered = (await socket.data("board"))["pipelineChanged"]
            # Between open statuses the lead keeps its column: no board change.
            await set_status("NEW")
            await socket.nothing_for(0.3)

    assert (left["kind"], left["leadId"], left["fromStage"], left["toStage"]) == (
        "LEFT",
        str(lead),
        "FOLLOW_UP_1",
        None,
    )
    assert _counts(left) == [0, 0, 0, 0]
    assert (back["status"], back["stage"]) == ("CONTACTED", "FOLLOW_UP_2")
    assert (entered["kind"], entered["leadId"], entered["fromStage"], entered["toStage"]) == (
        "ENTERED",
        str(lead),
        None,
        "FOLLOW_UP_2",
    )
    assert _counts(entered) == [0, 1, 0, 0]
    assert await _stage(engine, lead) == "follow_up_2"
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT payload FROM events WHERE type = 'LEAD_UPDATED' ORDER BY id")
        )
        payloads = [row.payload for row in rows]
    assert [
        (p["lead"]["status"], p["from_status"], p["from_stage"], p["to_stage"], "stage" in p["changes"])
        for p in payloads
    ] == [
        ("booked", "new", "follow_up_1", None, True),
        ("contacted", "booked", None, "follow_up_2", True),
        ("new", "contacted", "follow_up_2", "follow_up_2", False),
    ]


async def test_new_stage_bounds_restage_the_tenants_leads_at_the_next_sweep(
    make_app: AppFactory, make_tenant, make_user, engine: AsyncEngine
) -> None:
    clock = MovableClock()
    tight = await make_tenant()
    other = await make_tenant()
    admin = await make_user("admin")
    async with (
        running(make_app(clock=clock, stage_sweep_seconds=SWEEP)) as server,
        httpx.AsyncClient(base_url=server.url, headers=admin.headers) as http,
    ):
        lead = await _post_lead(server, tight.lead_url, "+61430363930")
        untouched = await _post_lead(server, other.lead_url, "+61430363930")
        clock.offset = 2 * HOUR
        await asyncio.sleep(0.3)
        assert await _stage_events(engine) == []

        async def set_bounds(bounds: list[int]) -> None:
            variables = {"tenantId": str(tight.id), "input": {"stageBounds": bounds}}
            response = await http.post("/graphql", json={"query": SETTINGS, "variables": variables})
            assert "errors" not in response.json(), response.json()

        # Bounds of 1 h / 3 h / 6 h: the 2-hour-old lead belongs in Follow Up 2; the other tenant
        # keeps the default bounds.
        await set_bounds([3600, 3 * 3600, 6 * 3600])

        async def moved() -> list[dict[str, Any]]:
            return await _stage_events(engine)

        [payload] = await eventually(moved)
        await asyncio.sleep(0.3)
        assert len(await _stage_events(engine)) == 1

        # Wider bounds move it back: the sweep compares against the bounds of now.
        await set_bounds([86_400, 3 * 86_400, 7 * 86_400])

        async def moved_back() -> bool:
            return len(await _stage_events(engine)) == 2

        await eventually(moved_back)

    assert (payload["lead"]["id"], payload["from_stage"], payload["to_stage"]) == (
        str(lead),
        "follow_up_1",
        "follow_up_2",
    )
    last = (await _stage_events(engine))[-1]
    assert (last["from_stage"], last["to_stage"]) == ("follow_up_2", "follow_up_1")
    assert await _stage(engine, lead) == "follow_up_1"
    assert await _stage(engine, untouched) == "follow_up_1"
