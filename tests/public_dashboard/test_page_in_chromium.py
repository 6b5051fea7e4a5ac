"""The public dashboard page in headless Chromium (Debian's `chromium`), driven over the DevTools
protocol: it draws the figures and the trend, fetches nothing from elsewhere, and a lead posted to
the webhook changes the figures on screen. Saves a screenshot in the test's temp folder, or where
CALLTRAX_DASHBOARD_PNG says (`make docs-images` refreshes docs/dashboard.png, shown in the README)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path

import httpx

from tests.chromium import chromium, needs_chromium
from tests.public_dashboard.support import create_link, seed_history
from tests.subscriptions.support import running

# Set by `make docs-images`; otherwise the screenshot stays out of the tree.
SCREENSHOT_ENV = "CALLTRAX_DASHBOARD_PNG"

pytestmark = needs_chromium


STATE = """JSON.stringify({
  title: document.getElementById("title").textContent,
  leads: document.getElementById("leads").textContent,
  median: document.getElementById("median-speed").textContent,
  connection: document.getElementById("connection-rate").textContent,
  pipeline: [...document.querySelectorAll("#pipeline .column .value")].map((node) => node.textContent),
  bars: document.querySelectorAll("#trend rect").length,
  lines: document.querySelectorAll("#trend polyline").length,
  status: document.getElementById("status").textContent,
  updates: window.dashboardUpdates,
  fetched: performance.getEntriesByType("resource").map((entry) => entry.name),
})"""


async def test_the_page_shows_the_figures_and_follows_a_new_lead_live(
    make_app, make_tenant, make_user, engine, tmp_path
) -> None:
    tenant = await make_tenant(name="Sunny Solar Co.", timezone="Australia/Perth")
    seeded = await seed_history(engine, tenant.id)
    leads = len(seeded.pii) // 5
    async with running(make_app()) as server, httpx.AsyncClient(base_url=server.url) as http:
        link = await create_link(http, await make_user("admin"), tenant.id)
        async with chromium() as page:
            await page.send("Page.enable")
            await page.send("Page.navigate", {"url": f"{server.url}/dashboard/{link['token']}"})
            await page.until('document.getElementById("status").className === "live"')
            state = json.loads(await page.evaluate(STATE))
            assert state["title"] == "Sunny Solar Co."
            assert state["leads"] == str(leads)
            assert state["median"].endswith(("s", "min"))
            assert state["connection"].endswith("%")
            assert sum(int(count) for count in state["pipeline"]) == leads
            # One bar per tenant day of the 30-day range, and the connected and booked lines.
            assert state["bars"] >= 30
            assert state["lines"] == 2
            assert state["status"].startswith("live")
            # Self-contained: nothing but the page itself was loaded (the websocket is not a resource).
            assert state["fetched"] == []
            body = await page.evaluate("document.body.innerText")
            assert not [marker for marker in seeded.pii if marker in body]

            await server.live(1)
            posted = await http.post(
                tenant.lead_url, json={"name": "Live Lead", "phone": "+61412345999", "source": "browser-test"}
            )
            assert posted.status_code == 201, posted.text
            await page.until(f'document.getElementById("leads").textContent === "{leads + 1}"', within=10)
            state = json.loads(await page.evaluate(STATE))
            assert state["updates"] >= 2
            assert sum(int(count) for count in state["pipeline"]) == leads + 1
            shot = await page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
            screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "dashboard.png")
            await asyncio.to_thread(screenshot.write_bytes, base64.b64decode(shot["data"]))

            # Revoked while open: the page says so at once.
            await http.post(
                "/graphql",
                json={
                    "query": "mutation ($id: ID!) { revokePublicLink(id: $id) { id } }",
                    "variables": {"id": link["id"]},
                },
                headers=(await make_user("admin")).headers,
            )
            await page.until('document.getElementById("status").textContent === "link revoked"', within=5)
            assert await page.evaluate('getComputedStyle(document.getElementById("gone")).display') == "block"


async def test_the_page_draws_its_first_figures_before_any_websocket_answers(
    make_app, make_tenant, make_user, engine
) -> None:
    """The server writes the figures into the page: with a websocket that never opens, they show."""
    tenant = await make_tenant(name="Quiet <Socket> & Co", timezone="Australia/Perth")
    seeded = await seed_history(engine, tenant.id)
    leads = len(seeded.pii) // 5
    async with running(make_app()) as server, httpx.AsyncClient(base_url=server.url) as http:
        link = await create_link(http, await make_user("admin"), tenant.id)
        async with chromium() as page:
            await page.send("Page.enable")
            # A socket that never connects: whatever the page shows came with the page.
            await page.send(
                "Page.addScriptToEvaluateOnNewDocument",
                {"source": "window.WebSocket = class { send() {} close() {} };"},
            )
            await page.send("Page.navigate", {"url": f"{server.url}/dashboard/{link['token']}"})
            await page.until("window.dashboardUpdates === 1")
            state = json.loads(await page.evaluate(STATE))
            assert state["title"] == "Quiet <Socket> & Co"
            assert state["leads"] == str(leads)
            assert sum(int(count) for count in state["pipeline"]) == leads
            assert state["bars"] >= 30
            assert state["status"].startswith("connecting · figures as of")
            heading = await page.evaluate('document.querySelector("h2").textContent')
            assert "not only the last 30 days" in heading
