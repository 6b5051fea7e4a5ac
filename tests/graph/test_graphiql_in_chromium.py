"""GraphiQL at /graphql in headless Chromium with no internet: its assets come from this server, it
runs under its Content-Security-Policy, and a query typed into it returns data."""

from __future__ import annotations

import hashlib
import json
import os
import re
from base64 import b64encode
from urllib.parse import quote

import httpx

from graph.graphiql import HERE
from tests.chromium import chromium, needs_chromium

QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESULT = "document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue()"


@needs_chromium
async def test_graphiql_runs_offline_and_a_typed_query_returns_data(live_server: str, make_user) -> None:
    admin = await make_user("admin")
    headers = quote(json.dumps({"Authorization": f"Bearer {admin.token}"}))
    async with chromium() as page:
        await page.send("Page.enable")
        # Content-Security-Policy violations are counted by the page itself.
        await page.send(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.cspViolations = [];"
                "document.addEventListener('securitypolicyviolation',"
                " (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
            },
        )
        await page.send("Page.navigate", {"url": f"{live_server}/graphql?headers={headers}"})
        await page.until(f"{QUERY_EDITOR} !== undefined", within=30)

        # Typed, as a user would (text input events into the focused editor).
        await page.evaluate(f"{QUERY_EDITOR}.setValue(''); {QUERY_EDITOR}.focus()")
        await page.send("Input.insertText", {"text": "{ me { email role } }"})
        typed = await page.evaluate(f"{QUERY_EDITOR}.getValue()")
        assert typed == "{ me { email role } }", typed
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        result = await page.until(f"({RESULT} || '').includes('{admin.user.email}') && {RESULT}", within=15)
        assert json.loads(result) == {"data": {"me": {"email": admin.user.email, "role": "ADMIN"}}}

        fetched = await page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
        assert fetched, "the page loaded no assets"
        assert all(url.startswith(f"{live_server}/") for url in fetched), fetched
        assert await page.evaluate("window.cspViolations") == []


async def test_the_page_pins_its_assets_and_sets_a_strict_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "https://" not in page.text
    assets = re.findall(r'(?:src|href)="(/graphiql/static/[^"]+)"\s+integrity="([^"]+)"', page.text)
    assert len(assets) == 6
    for path, integrity in assets:
        served = await client.get(path)
        assert served.status_code == 200, path
        digest = "sha384-" + b64encode(hashlib.sha384(served.content).digest()).decode()
        assert digest == integrity, f"{path} differs from the pinned release file"
    licenses = set(os.listdir(HERE / "licenses"))
    assert {"react.LICENSE", "react-dom.LICENSE", "graphiql.LICENSE", "plugin-explorer.LICENSE"} <= licenses
