"""`calltrax simulate` against a real server: every unique event stored once, redeliveries absorbed."""

from __future__ import annotations

import asyncio
import os
import sys

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


async def test_simulated_calls_follow_their_leads_and_never_happen_after_their_posting(
    live_server, make_tenant, engine, database_url
):
    """Calls start after the lead they call (so they link to it) and no event is stamped later than
    the moment the server received it; durations stay consistent with the times."""
    tenant = await make_tenant(timezone="Australia/Perth")
    credentials = await load_credentials(database_url, tenant.tenant.slug)
    lines: list[str] = []
    report = await simulate(
        credentials, base_url=live_server, leads=6, calls=12, rate=200, seed=11, progress=lines.append
    )
    assert (report.leads_failed, report.events_failed) == (0, 0)
    assert lines[-1] == f"leads 6/6, events {report.events_sent}/{report.events_sent}"
    async with engine.connect() as connection:
        future = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM call_events"
                    " WHERE to_timestamp(event_timestamp_ms / 1000.0) > received_at"
                )
            )
        ).scalar_one()
        linked = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE c.started_at >= l.created_at) AS after_lead, count(*) AS all"
                    " FROM calls c JOIN leads l ON l.id = c.lead_id"
                )
            )
        ).one()
        ended = (
            await connection.execute(
                text("SELECT count(*) FROM calls WHERE ended_at IS NOT NULL AND ended_at < started_at")
            )
        ).scalar_one()
    assert future == 0
    assert linked.all > 0
    assert linked.after_lead == linked.all
    assert ended == 0


async def test_simulate_prints_progress_and_a_summary_not_a_log_line_per_request(
    live_server, make_tenant, database_url
):
    tenant = await make_tenant()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CALLTRAX_", "DATABASE_"))}
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "calltrax", "simulate", "--tenant", tenant.tenant.slug, "--url", live_server),
        *("--leads", "5", "--calls", "10", "--rate", "0", "--seed", "3"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[-2].startswith("leads 5/5, events ")
    assert lines[-1].startswith("leads: 5 posted, 0 failed; events: ")
    assert len(lines) <= 6, lines
    # No JSON line per request on stderr (httpx's INFO request log).
    assert "HTTP Request" not in err.decode()
