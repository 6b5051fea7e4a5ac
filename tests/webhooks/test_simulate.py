"""`calltrax simulate` against a real server: every unique event stored once, redeliveries absorbed."""

from __future__ import annotations

from sqlalchemy import text

from calltrax.cli import main
from calltrax.simulate import load_credentials, simulate


async def test_simulated_calls_are_stored_once_each(live_server, make_tenant, engine, database_url):
    tenant = await make_tenant(timezone="Australia/Sydney")
    credentials = await load_credentials(database_url, tenant.tenant.slug)
    assert credentials.lead_token == tenant.webhook.token
    assert credentials.region == "AU"
    report = await simulate(credentials, base_url=live_server, leads=0, calls=30, rate=0, seed=7)
    assert report.events_failed == 0
    assert report.duplicates_sent > 0
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT count(*) FROM call_events"))).scalar_one()
        # Customer calls: some simulated calls have several legs, which count once.
        calls = (
            await connection.execute(text("SELECT count(*) FROM calls WHERE is_primary_leg"))
        ).scalar_one()
        legs = (
            await connection.execute(text("SELECT count(*) FROM calls WHERE NOT is_primary_leg"))
        ).scalar_one()
        ringing = (
            await connection.execute(
                text("SELECT count(*) FROM calls WHERE status = 'ringing' AND event_count > 0")
            )
        ).scalar_one()
    assert stored == report.unique_events
    assert calls == 30
    assert legs > 0
    # Every simulated call ends, whatever order its events came in.
    assert ringing == 0


def test_simulate_refuses_an_unknown_tenant(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["simulate", "--tenant", "nobody", "--calls", "1"]) == 2
    assert "no tenant with slug 'nobody'" in capsys.readouterr().out
