"""The `calltrax` command, run as a real process: token issuing, and serve's first run and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_JWT_SECRET, free_port

CALLTRAX = [sys.executable, "-m", "calltrax"]


def _env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CALLTRAX_", "DATABASE_", "REDIS_"))
    }
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CALLTRAX, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_token_creates_the_user_and_prints_a_24h_token(
    database_url: str, engine: AsyncEngine, make_tenant
) -> None:
    tenant = await make_tenant(slug="acme")
    env = _env(DATABASE_URL=database_url, CALLTRAX_JWT_SECRET=TEST_JWT_SECRET)
    result = _run(["token", "--email", "Client@Acme.com", "--role", "client", "--tenant", "acme"], env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert 86_300 <= claims["exp"] - time.time() <= 86_400
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT id, email, role, tenant_id FROM users"))).one()
    assert (row.id, row.email, row.role, row.tenant_id) == (
        claims["sub"],
        "client@acme.com",
        "client",
        tenant.id,
    )

    again = _run(["token", "--email", "client@acme.com", "--role", "client", "--tenant", "acme"], env)
    assert jwt.decode(again.stdout.strip(), TEST_JWT_SECRET, algorithms=["HS256"])["sub"] == claims["sub"]


def test_token_refuses_without_a_secret_and_names_bad_input(database_url: str, tmp_path: Path) -> None:
    no_secret = _run(
        ["token", "--email", "a@b.co", "--role", "admin"],
        _env(DATABASE_URL=database_url, CALLTRAX_DATA_DIR=str(tmp_path)),
    )
    assert no_secret.returncode == 2
    assert "no JWT secret" in no_secret.stdout
    env = _env(DATABASE_URL=database_url, CALLTRAX_JWT_SECRET=TEST_JWT_SECRET)
    unknown_tenant = _run(["token", "--email", "a@b.co", "--role", "client", "--tenant", "nope"], env)
    assert unknown_tenant.returncode == 2
    assert "nope" in unknown_tenant.stdout
    bad_setting = _run(["migrate"], _env(DATABASE_URL="mysql://x@y/z"))
    assert bad_setting.returncode == 2
    assert "DATABASE_URL" in bad_setting.stderr


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CALLTRAX, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(CALLTRAX_DATA_DIR=str(data_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server never became ready")


def _stop(server: subprocess.Popen[str]) -> str:
    server.send_signal(signal.SIGINT)
    output, _ = server.communicate(timeout=60)
    return output


@pytest.mark.slow
def test_serve_first_run_on_embedded_postgres_then_restart_keeps_data(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: embedded PostgreSQL, a generated secret, an admin token."""
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(data_dir, port)
    try:
        _wait_ready(base, server)
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert "graphiql" in httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}).text.lower()
    finally:
        output = _stop(server)
    assert f"{base.replace('127.0.0.1', '127.0.0.1')}/graphql" in output
    token = output.strip().splitlines()[-1]
    assert (data_dir / "jwt_secret").exists()
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    server = _start_server(data_dir, port)
    try:
        _wait_ready(base, server)
        me = httpx.post(
            f"{base}/graphql",
            json={"query": "{ me { email role } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert me.json() == {"data": {"me": {"email": "admin@calltrax.local", "role": "ADMIN"}}}
    finally:
        _stop(server)


def test_serve_stops_at_start_on_a_bad_notification_destination_setting(tmp_path: Path) -> None:
    for variable, value in (
        ("CALLTRAX_NOTIFY_ALLOWED_NETWORKS", "10.0.0.0/8,intranet"),
        ("CALLTRAX_NOTIFY_ALLOW_PRIVATE", "sometimes"),
    ):
        refused = _run(
            ["serve", "--port", str(free_port())], _env(CALLTRAX_DATA_DIR=str(tmp_path), **{variable: value})
        )
        assert refused.returncode == 2
        assert variable in refused.stderr
        assert not (tmp_path / "pgdata").exists()


def _postmasters(pgdata: Path) -> list[int]:
    """Pids of PostgreSQL servers running on `pgdata` (their command line holds `-D pgdata`; the
    server's children rewrite theirs to "postgres: ...")."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = [arg.decode() for arg in (entry / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if Path(args[0]).name == "postgres" and "-D" in args and args[args.index("-D") + 1] == str(pgdata):
            found.append(int(entry.name))
    return found


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _signal(server: subprocess.Popen[str], sig: signal.Signals) -> int:
    """Send `sig`, wait for the process to end, and close its pipe; returns its exit code."""
    server.send_signal(sig)
    code = server.wait(timeout=60)
    assert server.stdout is not None
    server.stdout.close()
    return code


def _tenant_names(base: str, token: str) -> list[str]:
    answer = httpx.post(
        f"{base}/graphql",
        json={"query": "{ tenants { name } }"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return [tenant["name"] for tenant in answer["data"]["tenants"]]


@pytest.mark.slow
def test_serve_on_embedded_postgres_survives_sigterm_and_sigkill_with_one_server(tmp_path: Path) -> None:
    """SIGTERM stops the embedded PostgreSQL as Ctrl-C does; after SIGKILL the next start reuses the
    orphan (one server, data intact) and stops it on its own SIGTERM."""
    data_dir = tmp_path / "data"
    pgdata = (data_dir / "pgdata").resolve()
    try:
        _sigterm_sigkill_restarts(data_dir, pgdata)
    finally:
        # A failed run must not leave a server behind.
        for pid in _postmasters(pgdata):
            os.kill(pid, signal.SIGTERM)


def _sigterm_sigkill_restarts(data_dir: Path, pgdata: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    server = _start_server(data_dir, port)
    try:
        _wait_ready(base, server)
        assert server.stdout is not None
        token = [server.stdout.readline() for _ in range(3)][-1].strip()
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/graphql",
            json={
                "query": 'mutation { provisionClient(input: {name: "Kept Co", timezone: "UTC"}) { tenant { id } } }'
            },
            headers=headers,
        ).json()
        assert created["data"]["provisionClient"]["tenant"]["id"], created
        assert len(_postmasters(pgdata)) == 1
    finally:
        assert _signal(server, signal.SIGTERM) == 0
    assert _postmasters(pgdata) == [], "SIGTERM left the embedded PostgreSQL running"

    server = _start_server(data_dir, port)
    _wait_ready(base, server)
    assert _tenant_names(base, token) == ["Kept Co"]
    _signal(server, signal.SIGKILL)
    orphans = _postmasters(pgdata)
    assert len(orphans) == 1, "the server outlives a SIGKILLed serve (it is a daemon, as with any crash)"

    server = _start_server(data_dir, port)
    try:
        _wait_ready(base, server)
        assert _postmasters(pgdata) == orphans, "the orphan is reused: one server on the data folder"
        assert _tenant_names(base, token) == ["Kept Co"]
    finally:
        assert _signal(server, signal.SIGTERM) == 0
    # The SIGKILLed process's handle must not keep the server running.
    _wait_for(lambda: _postmasters(pgdata) == [], "the embedded PostgreSQL outlived the last serve")


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    """Workers share subscriptions and revocations through Redis only: without it, refused at once."""
    result = _run(["serve", "--workers", "2"], _env(CALLTRAX_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "--workers above 1 needs REDIS_URL" in result.stdout
    assert not (tmp_path / "pgdata").exists(), "refused before starting anything"
    result = _run(["serve", "--workers", "0"], _env(CALLTRAX_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "--workers must be 1 or more" in result.stdout


SAMPLES = Path(__file__).resolve().parents[1] / "webhooks" / "dialpad_samples"


async def _calltrax(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI without blocking the event loop (the server under test runs on it)."""
    process = await asyncio.create_subprocess_exec(
        *CALLTRAX, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


def _docs_example() -> tuple[str, str]:
    """docs/dialpad.md's walk-through as written: the lead's JSON body and call.json."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dialpad.md").read_text(encoding="utf-8")
    walk_through = doc[doc.index("## Try it") :]
    body_start = walk_through.index("-d '") + 4
    body = walk_through[body_start : walk_through.index("'", body_start)]
    file_start = walk_through.index("cat > call.json <<'EOF'\n") + len("cat > call.json <<'EOF'\n")
    return body, walk_through[file_start : walk_through.index("\nEOF\n", file_start)]


async def test_dialpad_send_signs_with_the_tenants_secret_and_posts_the_docs_example(
    database_url: str, live_server: str, make_tenant, engine: AsyncEngine, tmp_path: Path
) -> None:
    """docs/dialpad.md's walk-through: a lead, then a recorded call sequence replayed as happening now."""
    tenant = await make_tenant(slug="acme-solar", timezone="Australia/Perth")
    lead_body, call_file = _docs_example()
    async with httpx.AsyncClient(base_url=live_server) as http:
        lead = await http.post(
            tenant.lead_url, content=lead_body, headers={"Content-Type": "application/json"}
        )
    assert lead.status_code == 201
    events = tmp_path / "call.json"
    events.write_text(call_file)
    env = _env(DATABASE_URL=database_url)

    code, output = await _calltrax(
        "dialpad",
        "send",
        "--tenant",
        "acme-solar",
        "--file",
        str(events),
        "--url",
        live_server,
        "--now",
        env=env,
    )
    assert code == 0, output
    lines = output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "call 6200000000000001 calling",
        "call 6200000000000001 connected",
        "call 6200000000000001 hangup",
        "call 6200000000000001 dispositions",
    ]
    assert all(": 200 " in line for line in lines), output
    async with engine.connect() as connection:
        call = (
            await connection.execute(text("SELECT status, disposition, lead_id, started_at FROM calls"))
        ).one()
        lead_row = (
            await connection.execute(
                text("SELECT status, first_attempt_at, first_connected_at, booked_at FROM leads")
            )
        ).one()
    assert (str(call.lead_id), call.status, call.disposition) == (
        lead.json()["lead_id"],
        "completed",
        "booked",
    )
    assert lead_row.status == "booked"
    assert None not in (lead_row.first_attempt_at, lead_row.first_connected_at, lead_row.booked_at)
    assert abs(call.started_at.timestamp() - time.time()) < 120, "--now replays the call as happening now"

    # One event object (a sample in Dialpad's full shape), sent twice: the second is a redelivery.
    single = str(SAMPLES / "outbound-1-calling.json")
    for duplicate in ("false", "true"):
        code, output = await _calltrax(
            "dialpad", "send", "--tenant", "acme-solar", "--file", single, "--url", live_server, env=env
        )
        assert code == 0
        assert f'"duplicate":{duplicate}' in output


async def test_dialpad_send_names_bad_input(database_url: str, make_tenant, tmp_path: Path) -> None:
    await make_tenant(slug="acme-solar")
    env = _env(DATABASE_URL=database_url)
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    no_call = tmp_path / "no-call.json"
    no_call.write_text('[{"state": "calling"}]')
    good = str(SAMPLES / "outbound-1-calling.json")
    for args, message in (
        (("--tenant", "acme-solar", "--file", str(tmp_path / "missing.json")), "cannot read"),
        (("--tenant", "acme-solar", "--file", str(not_json)), "is not JSON"),
        (("--tenant", "acme-solar", "--file", str(no_call)), "event 1 has no call_id"),
        (("--tenant", "nobody", "--file", good), "no tenant with slug 'nobody'"),
    ):
        code, output = await _calltrax("dialpad", "send", *args, env=env)
        assert (code, message in output) == (2, True), output
