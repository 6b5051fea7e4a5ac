"""The public dashboard page in headless Chromium (Debian's `chromium`), driven over the DevTools
protocol: it draws the figures and the trend, fetches nothing from elsewhere, and a lead posted to
the webhook changes the figures on screen. Saves a screenshot in the test's temp folder, or where
CALLTRAX_DASHBOARD_PNG says (`make docs-images` refreshes docs/dashboard.png, shown in the README)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.public_dashboard.support import create_link, seed_history
from tests.subscriptions.support import running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Set by `make docs-images`; otherwise the screenshot stays out of the tree.
SCREENSHOT_ENV = "CALLTRAX_DASHBOARD_PNG"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: `apt-get install -y chromium` (.ci/run does it)"
)


class DevTools:
    """A Chrome DevTools Protocol session on one page (flattened target session)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.session: str | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def send(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout=20)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    async def until(self, expression: str, *, within: float = 15.0) -> Any:
        """Poll `expression` until it is truthy; its last value otherwise fails the test."""
        value = None
        for _ in range(int(within / 0.1)):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never true: {expression} (last {value!r})")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[DevTools]:
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="calltrax-chromium-")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless=new",
        # Root in a container has no user namespaces for the sandbox.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        url = None
        while url is None:
            line = (await asyncio.wait_for(process.stderr.readline(), timeout=30)).decode()
            assert line, "chromium exited before opening DevTools"
            if "DevTools listening on " in line:
                url = line.split("DevTools listening on ", 1)[1].strip()
        async with connect(url, max_size=None, compression=None) as ws:
            tools = DevTools(ws)
            target = await tools.send("Target.createTarget", {"url": "about:blank"}, page=False)
            attached = await tools.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
            )
            tools.session = attached["sessionId"]
            await tools.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            )
            try:
                yield tools
            finally:
                tools.reader.cancel()
    finally:
        process.terminate()
        await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


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
            await page.until("window.dashboardUpdates >= 1")
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
