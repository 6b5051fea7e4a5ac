"""The data the fuzzer aims at: two tenants with leads, calls and a public link, and a user per role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.roles import Role
from persistence.dialpad_company import ensure_company
from tests.conftest import UserFixture, graphql
from tests.dialpad_samples import OUTBOUND, sample, sign

DIALPAD_SECRET = "dialpad-secret-for-tests"


@dataclass
class World:
    """Real ids and secrets; the fuzzer mixes them into its inputs so they reach past NOT_FOUND."""

    slugs: list[str]
    lead_tokens: list[str]
    public_tokens: list[str]
    ids: list[str]
    users: dict[str, UserFixture | None]

    def headers(self, role: str) -> tuple[tuple[str, str], ...]:
        user = self.users[role]
        return (("Authorization", f"Bearer {user.token}"),) if user else ()


async def build_world(
    http: httpx.AsyncClient, engine: AsyncEngine, make_tenant: Any, make_user: Any
) -> World:
    east = await make_tenant(slug="fuzz-east", timezone="Australia/Sydney")
    west = await make_tenant(slug="fuzz-west", timezone="America/Los_Angeles")
    async with engine.begin() as connection:
        # The company endpoint (POST /webhooks/dialpad) verifies with this secret.
        await ensure_company(connection, secret=DIALPAD_SECRET)
    admin = await make_user(Role.ADMIN)
    agent = await make_user(Role.AGENT, tenants=[east])
    client = await make_user(Role.CLIENT, tenant=east)
    for tenant in (east, west):
        for number in range(3):
            answer = await http.post(
                tenant.lead_url,
                json={
                    "name": f"Lead {number}",
                    "phone": f"+6143036393{number}",
                    "email": f"l{number}@example.com",
                },
            )
            assert answer.status_code == 201, answer.text
        for name in OUTBOUND:
            answer = await http.post(
                f"/webhooks/dialpad/{tenant.tenant.slug}", content=sign(sample(name), DIALPAD_SECRET)
            )
            assert answer.status_code == 200, answer.text
    links = []
    for tenant in (east, west):
        body = await graphql(
            http,
            "mutation($t: ID!) { createPublicLink(tenantId: $t) { token } }",
            {"t": str(tenant.id)},
            user=admin,
        )
        links.append(body["data"]["createPublicLink"]["token"])
    ids: list[str] = []
    async with engine.connect() as connection:
        for table in ("tenants", "leads", "calls", "contacts", "lead_webhooks", "public_links"):
            rows = await connection.execute(text(f"SELECT id::text FROM {table}"))
            ids.extend(row[0] for row in rows)
        rows = await connection.execute(text("SELECT id FROM users"))
        ids.extend(row[0] for row in rows)
    return World(
        slugs=[east.tenant.slug, west.tenant.slug],
        lead_tokens=[east.webhook.token, west.webhook.token],
        public_tokens=links,
        ids=ids,
        users={"admin": admin, "agent": agent, "client": client, "anonymous": None},
    )


async def webhook_targets(world: World, make_tenant: Any) -> World:
    """Two more tenants (east and west of UTC) for the webhook inputs, out of GraphQL's reach."""
    east = await make_tenant(slug="hooks-east", timezone="Asia/Tokyo")
    west = await make_tenant(slug="hooks-west", timezone="America/New_York")
    return World(
        slugs=[east.tenant.slug, west.tenant.slug],
        lead_tokens=[east.webhook.token, west.webhook.token],
        public_tokens=world.public_tokens,
        ids=world.ids,
        users=world.users,
    )
