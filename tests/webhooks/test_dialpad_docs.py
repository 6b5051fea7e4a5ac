"""docs/dialpad.md's signed example, run as written (bash, openssl, curl) against a live server."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

DOC = Path(__file__).parents[2] / "docs" / "dialpad.md"
SECRET = "a-company-secret-for-the-docs-test-0123"


def _blocks() -> tuple[str, str]:
    section = DOC.read_text().split("## A complete signed example", 1)[1].split("\n## ", 1)[0]
    [event] = re.findall(r"```json\n(.*?)```", section, re.S)
    [script] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return event, script


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")), reason="needs openssl and curl")
async def test_the_documented_example_posts_and_is_applied_when_the_lead_arrives(
    live_server, make_tenant, engine, tmp_path
):
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO dialpad_company (id, secret) VALUES (1, :s)"), {"s": SECRET}
        )
    event, script = _blocks()
    (tmp_path / "event.json").write_text(event)
    script = re.sub(r"^CALLTRAX=.*$", f"CALLTRAX={live_server}", script, flags=re.M)
    script = re.sub(r"^SECRET=.*$", f"SECRET='{SECRET}'", script, flags=re.M)
    process = await asyncio.create_subprocess_exec(
        "bash", "-euc", script, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out) == {
        "success": True,
        "duplicate": False,
        "call_id": None,
        "status": None,
        "routed": None,
        "inbox": "NO_TENANT",
    }
    tenant = await make_tenant(timezone="Australia/Sydney")
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post(
            tenant.lead_url, json={"contact": {"name": "Jane", "phone": "+61430363930"}}
        )
    assert response.status_code == 201
    async with engine.connect() as connection:
        call = (await connection.execute(text("SELECT tenant_id, status, direction FROM calls"))).one()
    assert (call.tenant_id, call.status, call.direction) == (tenant.id, "completed", "outbound")
