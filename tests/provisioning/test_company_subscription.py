"""One company-wide Dialpad subscription: provisioning at scale, `calltrax dialpad setup` and `--migrate`,
against the fake Dialpad over real HTTP (the CLI as a real process)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.dialpad_client import DialpadClient
from domain.roles import Role
from tests.conftest import AppFactory, graphql
from tests.fake_dialpad import API_KEY, FakeDialpad
from tests.provisioning.conftest import OFFICE_ID, app_client
from tests.provisioning.test_provision_client import PROVISION

SUB = "/api/v2/subscriptions/call"
PUBLIC = "https://calltrax.example.com"


async def test_150_tenants_share_one_webhook_and_one_subscription(
    make_app: AppFactory, fake_dialpad: FakeDialpad, make_user, engine: AsyncEngine
):
    admin = await make_user(Role.ADMIN)
    async with httpx.AsyncClient() as client:
        # Our real client; the fake has no rate limit, so ours is lifted to keep the test short.
        dialpad = DialpadClient(
            client, base_url=fake_dialpad.base_url, api_key=API_KEY, base_delay=0.02, requests_per_second=1000
        )
        async with app_client(make_app(dialpad=dialpad, dialpad_office_id=OFFICE_ID)) as http:
            gate = asyncio.Semaphore(8)

            async def provision(number: int) -> dict[str, Any]:
                async with gate:
                    return await graphql(
                        http,
                        PROVISION,
                        {"input": {"name": f"Client {number:03d}", "timezone": "UTC"}},
                        user=admin,
                    )

            bodies = await asyncio.gather(*(provision(n) for n in range(150)))
    assert all("errors" not in body for body in bodies), [b for b in bodies if "errors" in b][:1]
    assert {body["data"]["provisionClient"]["tenant"]["status"] for body in bodies} == {"ACTIVE"}
    assert {body["data"]["provisionClient"]["webhooks"]["dialpadEvents"] for body in bodies} == {
        "http://testserver/webhooks/dialpad"
    }
    assert len(fake_dialpad.call_centers) == 150
    [webhook] = fake_dialpad.webhooks.values()
    [subscription] = fake_dialpad.subscriptions.values()
    assert webhook["hook_url"] == "http://testserver/webhooks/dialpad"
    assert "target_id" not in subscription
    assert subscription["enabled"] is True
    assert len(fake_dialpad.calls("POST", "/api/v2/webhooks")) == 1
    assert len(fake_dialpad.calls("POST", SUB)) == 1
    async with engine.connect() as connection:
        tenants = (
            await connection.execute(
                text(
                    "SELECT count(*) AS n, count(DISTINCT dialpad_call_center_id) AS centers,"
                    " count(dialpad_subscription_id) AS subs, count(dialpad_webhook_id) AS hooks FROM tenants"
                )
            )
        ).one()
    assert (tenants.n, tenants.centers, tenants.subs, tenants.hooks) == (150, 150, 0, 0)


def _env(fake: FakeDialpad, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CALLTRAX_", "DATABASE_", "REDIS_", "DIALPAD_"))
    }
    env.update(
        DATABASE_URL=database_url,
        DIALPAD_API_KEY=API_KEY,
        DIALPAD_BASE_URL=fake.base_url,
        PUBLIC_BASE_URL=PUBLIC,
    )
    return env


async def _setup(fake: FakeDialpad, database_url: str, *extra: str) -> tuple[int, str]:
    """`calltrax dialpad setup` as a real process; the fake keeps serving while it runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "calltrax",
        "dialpad",
        "setup",
        *extra,
        env=_env(fake, database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def _company(engine: AsyncEngine) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT * FROM dialpad_company"))).one()


async def test_setup_is_idempotent_and_repairs_a_disabled_or_missing_subscription(
    fake_dialpad: FakeDialpad, database_url: str, engine: AsyncEngine
):
    code, out = await _setup(fake_dialpad, database_url)
    assert code == 0, out
    assert "created webhook" in out
    assert "created subscription" in out
    company = await _company(engine)
    [webhook] = fake_dialpad.webhooks.values()
    assert webhook == {
        "id": company.webhook_id,
        "hook_url": f"{PUBLIC}/webhooks/dialpad",
        "signature": {"type": "jwt", "algo": "HS256", "secret": company.secret},
    }
    assert f"secret: {company.secret}" in out
    assert list(fake_dialpad.subscriptions) == [company.subscription_id]

    # Again: Dialpad is looked at, nothing is made.
    posts = len([r for r in fake_dialpad.requests if r.method != "GET"])
    code, out = await _setup(fake_dialpad, database_url)
    assert (code, "nothing to repair" in out) == (0, True), out
    assert len([r for r in fake_dialpad.requests if r.method != "GET"]) == posts

    # Someone disabled the subscription: it is enabled again, not duplicated.
    fake_dialpad.subscriptions[company.subscription_id]["enabled"] = False
    code, out = await _setup(fake_dialpad, database_url)
    assert (code, "enabled subscription" in out) == (0, True), out
    assert [s["enabled"] for s in fake_dialpad.subscriptions.values()] == [True]

    # Someone deleted both: both are made again and stored, with the same secret.
    fake_dialpad.webhooks.clear()
    fake_dialpad.subscriptions.clear()
    code, out = await _setup(fake_dialpad, database_url)
    assert (code, "created webhook" in out) == (0, True), out
    repaired = await _company(engine)
    assert repaired.secret == company.secret
    assert list(fake_dialpad.webhooks) == [repaired.webhook_id] != [company.webhook_id]
    [subscription] = fake_dialpad.subscriptions.values()
    assert subscription["webhook"]["id"] == repaired.webhook_id


async def _legacy_tenants(fake: FakeDialpad, engine: AsyncEngine, count: int) -> list[str]:
    """Tenants as provisioning made them before issue 15: a webhook and a call-center subscription each."""
    slugs = []
    for number in range(count):
        center, hook, sub = fake.new_id(), fake.new_id(), fake.new_id()
        fake.call_centers[center] = {"id": center, "name": f"Old {number}", "office_id": OFFICE_ID}
        fake.webhooks[hook] = {"id": hook, "hook_url": f"{PUBLIC}/webhooks/dialpad/old-{number}"}
        fake.subscriptions[sub] = {
            "id": sub,
            "call_states": ["hangup"],
            "enabled": True,
            "target_type": "callcenter",
            "target_id": center,
            "webhook": fake.webhooks[hook],
        }
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO tenants (name, slug, timezone, dialpad_call_center_id, dialpad_webhook_id,"
                    " dialpad_subscription_id, dialpad_webhook_secret, created_at)"
                    " VALUES (:name, :slug, 'UTC', :cc, :hook, :sub, 'old-secret', now() + :n * interval '1 s')"
                ),
                {
                    "name": f"Old {number}",
                    "slug": f"old-{number}",
                    "cc": center,
                    "hook": hook,
                    "sub": sub,
                    "n": number,
                },
            )
        slugs.append(f"old-{number}")
    return slugs


async def test_migrate_leaves_one_company_subscription_and_completes_after_a_failure_halfway(
    fake_dialpad: FakeDialpad, database_url: str, engine: AsyncEngine
):
    await _legacy_tenants(fake_dialpad, engine, 4)
    third = await _tenant_ids(engine, "old-2")
    # Dialpad refuses to delete the third tenant's subscription (once).
    fake_dialpad.fail("DELETE", f"{SUB}/{third.dialpad_subscription_id}", 400, message="try later")
    code, out = await _setup(fake_dialpad, database_url, "--migrate")
    assert code == 1, out
    assert "try later" in out
    assert "run the command again" in out
    moved = [await _tenant_ids(engine, f"old-{n}") for n in range(4)]
    assert [(t.dialpad_subscription_id is None, t.dialpad_webhook_id is None) for t in moved] == [
        (True, True),
        (True, True),
        (False, False),
        (False, False),
    ]
    company = await _company(engine)
    # Every call is covered meanwhile: the company subscription came first, the rest still have theirs.
    assert company.subscription_id in fake_dialpad.subscriptions
    assert len(fake_dialpad.subscriptions) == 3

    code, out = await _setup(fake_dialpad, database_url, "--migrate")
    assert code == 0, out
    assert "moved 2 tenant(s)" in out
    assert list(fake_dialpad.subscriptions) == [company.subscription_id]
    assert list(fake_dialpad.webhooks) == [company.webhook_id]
    assert "target_id" not in fake_dialpad.subscriptions[company.subscription_id]
    async with engine.connect() as connection:
        left = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM tenants WHERE dialpad_subscription_id IS NOT NULL OR dialpad_webhook_id IS NOT NULL"
                )
            )
        ).scalar()
        centers = (
            await connection.execute(text("SELECT count(dialpad_call_center_id) FROM tenants"))
        ).scalar()
    assert (left, centers) == (0, 4)
    assert len(fake_dialpad.call_centers) == 4


async def _tenant_ids(engine: AsyncEngine, slug: str) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                text("SELECT dialpad_subscription_id, dialpad_webhook_id FROM tenants WHERE slug = :s"),
                {"s": slug},
            )
        ).one()
