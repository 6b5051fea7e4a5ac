"""The server a load benchmark drives: `calltrax serve` as operators run it, on a free local port."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    database_url: str,
    port: int,
    *,
    jwt_secret: str | None = None,
    redis_url: str | None = None,
    workers: int = 1,
    root: Path = ROOT,
    profile: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`calltrax serve` on 127.0.0.1:`port`, logging at CALLTRAX_LOG_LEVEL (WARNING unless set);
    in-process broadcast unless `redis_url`. `root`: another checkout to run (its own .venv), for
    side-by-side runs against a baseline. `profile`: write the server's cProfile there at its exit."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CALLTRAX_JWT_SECRET": jwt_secret or secrets.token_urlsafe(48),
        "CALLTRAX_LOG_LEVEL": os.environ.get("CALLTRAX_LOG_LEVEL", "WARNING"),
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    python = sys.executable if root == ROOT else str(root / ".venv" / "bin" / "python")
    command = [python, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
    command += ["-m", "calltrax", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, start_new_session=True)


async def wait_ready(base_url: str, patience: float = 60.0) -> None:
    """Until `/readyz` answers 200 (the database and broker are reachable)."""
    deadline = time.monotonic() + patience
    async with httpx.AsyncClient(base_url=base_url) as http:
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"server at {base_url} not ready after {patience:.0f} s")
            await asyncio.sleep(0.2)
