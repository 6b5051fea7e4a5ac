"""The attempt facts kept on the write path (persistence/sql/call_attempt_facts.sql) equal, after any
sequence of writes, what the definitions compute from the calls: a lead's attempts up to its first
contact and its first attempt's agent, an inbound call's callback (docs/metrics.md)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# The definitions as the metrics statement computed them before the facts were stored (a join of
# each lead to its contact's outbound customer calls, of each missed call to the next outbound one).
_EXPECTED_LEADS = """
    SELECT l.id,
           count(c.started_at) FILTER (WHERE c.started_at <= coalesce(
               CASE WHEN l.first_connected_at >= l.created_at THEN l.first_connected_at END, 'infinity'))
               AS attempts,
           min(c.agent_id) FILTER (
               WHERE c.started_at = CASE WHEN l.first_attempt_at >= l.created_at THEN l.first_attempt_at END)
               AS first_agent
    FROM leads l
    LEFT JOIN calls c ON c.contact_id = l.contact_id AND c.direction = 'outbound' AND c.is_primary_leg
        AND c.started_at >= l.created_at
    WHERE l.tenant_id = :tenant
    GROUP BY l.id ORDER BY l.id
"""
_STORED_LEADS = """
    SELECT id, attempts_to_contact AS attempts, first_attempt_agent_id AS first_agent
    FROM leads WHERE tenant_id = :tenant ORDER BY id
"""
_EXPECTED_CALLBACKS = """
    SELECT m.id, min(o.started_at) AS callback_at
    FROM calls m
    LEFT JOIN calls o ON o.contact_id = m.contact_id AND o.direction = 'outbound' AND o.is_primary_leg
        AND o.started_at > m.started_at
    WHERE m.tenant_id = :tenant AND m.direction = 'inbound' AND m.is_primary_leg
    GROUP BY m.id ORDER BY m.id
"""
_STORED_CALLBACKS = """
    SELECT id, callback_at FROM calls
    WHERE tenant_id = :tenant AND direction = 'inbound' AND is_primary_leg ORDER BY id
"""

T0 = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


async def _rows(engine: AsyncEngine, sql: str, tenant: UUID) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql), {"tenant": tenant})]


async def _run(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), params)


async def test_stored_facts_equal_the_definitions_after_writes_in_any_order(
    engine: AsyncEngine, make_tenant
) -> None:
    tenant = (await make_tenant()).tenant.id
    rng = random.Random(17)
    contacts: list[UUID] = []
    async with engine.begin() as connection:
        for n in range(3):
            contacts.append(
                (
                    await connection.execute(
                        text("INSERT INTO contacts (tenant_id, phone) VALUES (:t, :p) RETURNING id"),
                        {"t": tenant, "p": f"+6143000000{n}"},
                    )
                ).scalar_one()
            )
        # Two leads for the first person (the second one closed: its attempts count all the same).
        for contact, hours, status in (
            (contacts[0], 0, "new"),
            (contacts[0], 5, "closed"),
            (contacts[1], 1, "new"),
            (contacts[2], 2, "contacted"),
        ):
            await connection.execute(
                text(
                    "INSERT INTO leads (tenant_id, contact_id, created_at, status) VALUES (:t, :c, :at, :s)"
                ),
                {"t": tenant, "c": contact, "at": T0 + timedelta(hours=hours), "s": status},
            )
    calls: list[UUID] = []

    def at() -> datetime:
        # Whole minutes, so calls sometimes start together (the first attempt's agent: the lowest id).
        return T0 + timedelta(minutes=rng.randrange(-60, 12 * 60, 30))

    for step in range(120):
        action = rng.random()
        if action < 0.35 or not calls:
            async with engine.begin() as connection:
                calls.append(
                    (
                        await connection.execute(
                            text(
                                "INSERT INTO calls (tenant_id, external_id, contact_id, direction, status, "
                                "started_at, is_primary_leg, agent_id) "
                                "VALUES (:t, :x, :c, :d, :s, :at, :p, :a) RETURNING id"
                            ),
                            {
                                "t": tenant,
                                "x": f"call-{step}",
                                "c": rng.choice([*contacts, None]),
                                "d": rng.choice(["outbound", "outbound", "inbound"]),
                                "s": rng.choice(["missed", "completed", "no_answer"]),
                                "at": at(),
                                "p": rng.random() < 0.85,
                                "a": rng.choice(["agent-a", "agent-b", None]),
                            },
                        )
                    ).scalar_one()
                )
        elif action < 0.75:
            column, value = rng.choice(
                [
                    ("started_at", at()),
                    ("direction", rng.choice(["outbound", "inbound"])),
                    ("is_primary_leg", rng.random() < 0.7),
                    ("agent_id", rng.choice(["agent-a", "agent-b", "agent-c"])),
                    ("contact_id", rng.choice([*contacts, None])),
                    ("status", "completed"),
                ]
            )
            await _run(
                engine, f"UPDATE calls SET {column} = :v WHERE id = :id", v=value, id=rng.choice(calls)
            )
        elif action < 0.9:
            # What the call statement folds into a lead: its first attempt and first contact.
            column = rng.choice(["first_attempt_at", "first_connected_at"])
            await _run(
                engine,
                f"UPDATE leads SET {column} = :v WHERE id = (SELECT id FROM leads WHERE tenant_id = :t "
                "ORDER BY created_at OFFSET :n LIMIT 1)",
                v=rng.choice([at(), None]),
                t=tenant,
                n=rng.randrange(4),
            )
        else:
            victim = calls.pop(rng.randrange(len(calls)))
            await _run(engine, "DELETE FROM calls WHERE id = :id", id=victim)
        assert await _rows(engine, _STORED_LEADS, tenant) == await _rows(engine, _EXPECTED_LEADS, tenant), (
            step
        )
        assert await _rows(engine, _STORED_CALLBACKS, tenant) == await _rows(
            engine, _EXPECTED_CALLBACKS, tenant
        ), step
    # The walk reached the interesting states.
    leads = await _rows(engine, _STORED_LEADS, tenant)
    assert any(attempts >= 2 for _, attempts, _ in leads)
    assert any(agent is not None for _, _, agent in leads)
    assert any(callback is not None for _, callback in await _rows(engine, _STORED_CALLBACKS, tenant))
