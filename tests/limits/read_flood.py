"""A flood of GraphQL reads from its own process (so the measuring test's event loop stays idle):

    python -m tests.limits.read_flood URL TOKEN TENANT_ID ALIASES [CONCURRENCY]

prints `started` once every connection has had an answer, runs until a line arrives on stdin, then
prints what the answers were as one JSON object ({"data": n, "QUERY_TOO_COSTLY": n, ...})."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta

import httpx

BASE_TIME = datetime(2026, 1, 5, tzinfo=UTC)

# A page of leads with what a dashboard shows of each: contact and timeline.
_PAGE = (
    'leads(tenantId: $tenant, first: 100, filter: {{createdTo: "{before}"}}) '
    "{{ edges {{ node {{ id status createdAt contact {{ name phone }} timeline {{ at kind }} }} }} }}"
)
CODES = ("QUERY_TOO_COSTLY", "TOO_MANY_CONCURRENT_REQUESTS", "QUERY_TIMEOUT", "UNAVAILABLE")


def flood_query(aliases: int) -> str:
    """`aliases` pages of 100 leads with timelines, each a different page (so nothing is shared)."""
    pages = " ".join(
        f"a{n}: " + _PAGE.format(before=(BASE_TIME + timedelta(minutes=3000 - 100 * n)).isoformat())
        for n in range(aliases)
    )
    return f"query Flood($tenant: ID!) {{ {pages} }}"


def classify(status: int, content: bytes) -> str:
    """What an answer was, without parsing megabytes of JSON."""
    if status != 200:
        return f"HTTP {status}"
    for code in CODES:
        if code.encode() in content[-400:]:
            return code
    return "other error" if b'"errors"' in content else "data"


async def _loop(
    url: str, token: str, body: bytes, seen: dict[str, int], stop: asyncio.Event, answered: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while not stop.is_set():
            answer = await http.post("/graphql", content=body, headers=headers)
            kind = classify(answer.status_code, answer.content)
            seen[kind] = seen.get(kind, 0) + 1
            answered.set()


async def main(url: str, token: str, tenant: str, aliases: int, concurrency: int) -> None:
    body = json.dumps({"query": flood_query(aliases), "variables": {"tenant": tenant}}).encode()
    seen: dict[str, int] = {}
    stop = asyncio.Event()
    answered = [asyncio.Event() for _ in range(concurrency)]
    loops = [asyncio.create_task(_loop(url, token, body, seen, stop, each)) for each in answered]
    for each in answered:
        await each.wait()
    _say("started")
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    await asyncio.gather(*loops)
    _say(json.dumps(seen))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    url, token, tenant, aliases = sys.argv[1:5]
    concurrency = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    asyncio.run(main(url, token, tenant, int(aliases), concurrency))
