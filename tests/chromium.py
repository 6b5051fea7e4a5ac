"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol, with no network
beyond this machine: every request to another host goes to a closed local proxy port and fails."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
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
        # Networking off: loopback is always reached directly; anything else goes through this
        # proxy, a closed port, so a page that needs the internet fails here as it would offline.
        "--proxy-server=http://127.0.0.1:9",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # Chromium leaves its singleton folders in TMPDIR: in the profile, they go with it.
        env={**os.environ, "TMPDIR": profile},
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
