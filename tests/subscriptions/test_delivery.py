"""Every event kind reaches websocket subscribers, over both protocols, filtered by role."""

from __future__ import annotations

import pytest

from domain.events import EventType
from tests.subscriptions.support import (
    CALL_CHANGED,
    LEAD_CHANGED,
    LEGACY_WS,
    PIPELINE_CHANGED,
    TRANSPORT_WS,
    OperationError,
    Server,
    graphql_socket,
    write_call,
    write_lead,
)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_each_lead_and_call_kind_arrives_with_its_cursor(
    server: Server, make_tenant, make_user, protocol: str
) -> None:
    tenant = await make_tenant()
    admin = await make_user("admin")
    variables = {"tenantId": str(tenant.id)}
    async with graphql_socket(server.url, admin.token, protocol=protocol) as socket:
        await socket.subscribe("leads", LEAD_CHANGED, variables)
        await socket.subscribe("calls", CALL_CHANGED, variables)
        await server.live(2)
        lead_id = await write_lead(server.deps, tenant.id)
        await write_lead(
            server.deps, tenant.id, event=EventType.LEAD_UPDATED, lead_id=lead_id, status="contacted"
        )
        await write_lead(
            server.deps, tenant.id, event=EventType.LEAD_STAGE_CHANGED, lead_id=lead_id, status="contacted"
        )
        call_id = await write_call(server.deps, tenant.id, kind="RINGING")
        for kind in ("CONNECTED", "ENDED", "DISPOSITION"):
            await write_call(server.deps, tenant.id, kind=kind, call_id=call_id)

        leads = await socket.results("leads", "leadChanged", 3)
        calls = await socket.results("calls", "callChanged", 4)
    assert [(c["kind"], c["cursor"], c["lead"]["status"]) for c in leads] == [
        ("CREATED", 1, "NEW"),
        ("UPDATED", 2, "CONTACTED"),
        ("STAGE_CHANGED", 3, "CONTACTED"),
    ]
    assert {c["lead"]["id"] for c in leads} == {str(lead_id)}
    # Nested fields load per event (the snapshot here carries no contact).
    assert {c["lead"]["stage"] for c in leads} == {"FOLLOW_UP_1"}
    assert all(c["lead"]["contact"]["id"] for c in leads)
    assert {c["tenantId"] for c in leads + calls} == {str(tenant.id)}
    assert [(c["kind"], c["cursor"]) for c in calls] == [
        ("RINGING", 4),
        ("CONNECTED", 5),
        ("ENDED", 6),
        ("DISPOSITION", 7),
    ]
    assert [c["call"]["status"] for c in calls] == ["RINGING", "CONNECTED", "COMPLETED", "COMPLETED"]


async def test_pipeline_changes_carry_the_column_counts(server: Server, make_tenant, make_user) -> None:
    tenant = await make_tenant()
    agent = await make_user("agent", tenants=[tenant])
    async with graphql_socket(server.url, agent.token) as socket:
        await socket.subscribe("board", PIPELINE_CHANGED, {"tenantId": str(tenant.id)})
        await server.live(1)
        # Counts are the board's when the change is delivered: wait for each before the next write.
        first = await write_lead(server.deps, tenant.id)
        changes = await socket.results("board", "pipelineChanged", 1)
        await write_lead(server.deps, tenant.id)
        changes += await socket.results("board", "pipelineChanged", 1)
        # new -> contacted keeps the lead in its column: no board change.
        await write_lead(
            server.deps,
            tenant.id,
            event=EventType.LEAD_UPDATED,
            lead_id=first,
            status="contacted",
            from_status="new",
        )
        await write_lead(
            server.deps,
            tenant.id,
            event=EventType.LEAD_UPDATED,
            lead_id=first,
            status="booked",
            from_status="contacted",
        )
        changes += await socket.results("board", "pipelineChanged", 1)
    assert [(c["kind"], c["cursor"]) for c in changes] == [("ENTERED", 1), ("ENTERED", 2), ("LEFT", 4)]
    assert [c["columns"][0]["count"] for c in changes] == [1, 2, 1]
    assert changes[2]["leadId"] == str(first)
    assert [column["stage"] for column in changes[0]["columns"]] == [
        "FOLLOW_UP_1",
        "FOLLOW_UP_2",
        "FOLLOW_UP_3",
        "FOLLOW_UP_4",
    ]
    assert changes[0]["columns"][0]["title"] == "Follow Up 1"


async def test_without_tenant_id_each_role_sees_exactly_its_tenants(
    server: Server, make_tenant, make_user
) -> None:
    mine, other = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    agent = await make_user("agent", tenants=[mine])
    client = await make_user("client", tenant=mine)
    async with (
        graphql_socket(server.url, admin.token) as admin_socket,
        graphql_socket(server.url, agent.token, protocol=LEGACY_WS) as agent_socket,
        graphql_socket(server.url, client.token) as client_socket,
    ):
        for socket in (admin_socket, agent_socket, client_socket):
            await socket.subscribe("leads", LEAD_CHANGED)
        await server.live(3)
        await write_lead(server.deps, other.id)
        await write_lead(server.deps, mine.id)
        seen_by_admin = await admin_socket.results("leads", "leadChanged", 2)
        for socket in (agent_socket, client_socket):
            only = await socket.results("leads", "leadChanged", 1)
            assert only[0]["tenantId"] == str(mine.id)
            await socket.nothing_for(0.5)
    assert [c["tenantId"] for c in seen_by_admin] == [str(other.id), str(mine.id)]


async def test_a_tenant_the_caller_may_not_see_is_forbidden_before_any_event(
    server: Server, make_tenant, make_user
) -> None:
    mine, other = await make_tenant(), await make_tenant()
    agent = await make_user("agent", tenants=[mine])
    client = await make_user("client", tenant=mine)
    for user, protocol in ((agent, TRANSPORT_WS), (client, LEGACY_WS)):
        async with graphql_socket(server.url, user.token, protocol=protocol) as socket:
            await socket.subscribe("leads", LEAD_CHANGED, {"tenantId": str(other.id)})
            await write_lead(server.deps, other.id)
            with pytest.raises(OperationError) as error:
                await socket.data("leads")
            assert error.value.codes == ["FORBIDDEN"]


async def test_after_without_a_tenant_is_bad_input(server: Server, make_user) -> None:
    admin = await make_user("admin")
    async with graphql_socket(server.url, admin.token) as socket:
        await socket.subscribe("leads", LEAD_CHANGED, {"after": 3})
        with pytest.raises(OperationError) as error:
            await socket.data("leads")
    assert error.value.codes == ["BAD_USER_INPUT"]
