"""Seeding a tenant whose every personal detail is a marker string the public answers must not contain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import UserFixture, graphql
from tests.graph.factories import insert_call, insert_contact, insert_lead

CREATE = """
mutation ($t: ID!) { createPublicLink(tenantId: $t) { id tenantId token url createdAt revokedAt } }
"""
REVOKE = "mutation ($id: ID!) { revokePublicLink(id: $id) { id revokedAt } }"


@dataclass
class Seeded:
    pii: list[str] = field(default_factory=list)


async def seed_history(engine: Any, tenant_id: Any, *, days: int = 8) -> Seeded:
    """Leads and calls over the last `days` days (so the trend has a shape), every personal field unique."""
    seeded = Seeded()
    now = datetime.now(UTC)
    for day in range(days):
        for number in range(1 + (day * 3) % 5):
            tag = f"{day}x{number}"
            name, email, phone = f"Secretname {tag}", f"secret.{tag}@pii.test", f"+1555770{day}{number:03d}"
            notes, agent = f"Secretnote {tag}", f"Secretagent {tag}"
            seeded.pii += [name, email, phone, notes, agent]
            contact = await insert_contact(engine, tenant_id, name=name, email=email, phone=phone)
            created = now - timedelta(days=day, hours=1 + number)
            attempted = created + timedelta(minutes=2 + number * 4)
            lead = await insert_lead(
                engine,
                tenant_id,
                contact_id=contact,
                notes=notes,
                created_at=created,
                first_attempt_at=attempted,
                first_connected_at=attempted if number % 2 == 0 else None,
            )
            await insert_call(
                engine,
                tenant_id,
                lead_id=lead,
                contact_id=contact,
                started_at=attempted,
                connected_at=attempted if number % 2 == 0 else None,
                disposition="booked" if number == 2 else None,
                agent_name=agent,
            )
    async with engine.begin() as connection:
        # Call processing marks booked calls; these were inserted directly.
        await connection.execute(text("UPDATE calls SET booked = true WHERE disposition = 'booked'"))
    return seeded


async def create_link(http: httpx.AsyncClient, user: UserFixture, tenant_id: Any) -> dict[str, Any]:
    body = await graphql(http, CREATE, {"t": str(tenant_id)}, user=user)
    assert "errors" not in body, body
    link: dict[str, Any] = body["data"]["createPublicLink"]
    return link
