"""Fuzz machinery: inputs drawn by Hypothesis, sent concurrently to a running server, answers judged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

T = TypeVar("T")

# A request that takes longer than this is a hang (the slowest honest answer here is well under 1 s).
REQUEST_TIMEOUT_SECONDS = 10.0
# Requests in flight at once: below the app's pool (16, 2 reserved) so no answer is a pool-wait 503.
CONCURRENCY = 8
# Text that only an internal error would put in an answer: a stack, or the database layer's names.
LEAK = re.compile(r'Traceback|File "|line \d+, in |sqlalchemy|asyncpg|psycopg|pg_catalog|SQLSTATE', re.I)


@dataclass(frozen=True)
class Probe:
    """One input: an HTTP request and what it is (for the failure report)."""

    kind: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    # GraphQL answers are also checked for masked internal errors.
    graphql: bool = False
    # Sent over a raw socket: paths and headers httpx would refuse or re-encode.
    raw: bool = False

    def describe(self) -> str:
        body = (self.content or b"")[:300]
        return f"[{self.kind}] {self.method} {self.path[:200]!r} headers={self.headers!r:.300} body={body!r}"


def draw(strategy: st.SearchStrategy[T], count: int, *, name: str) -> list[T]:
    """`count` inputs drawn from `strategy`, the same ones on every run (a seed per name).

    Generation only: inputs are collected here and sent later in concurrent batches (Hypothesis runs
    examples one at a time, which would make 10,000 requests take minutes). Health checks are off
    because these strategies draw large and slow inputs on purpose (huge strings, deep JSON) and
    nothing here is a fixture or a test of its own."""
    found: list[T] = []

    @seed(zlib.crc32(name.encode()))
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


@dataclass
class Verdicts:
    """Answers judged so far: counts per kind and the failures, grouped by what failed."""

    sent: Counter[str] = field(default_factory=Counter)
    # Shared by every batch in flight, so concurrent batches together stay within CONCURRENCY.
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY))
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, probe: Probe, problem: str) -> None:
        self.failures.setdefault(f"{probe.kind}: {problem}", []).append(probe.describe())

    def report(self) -> str:
        lines = [f"{len(self.failures)} kinds of failure:"]
        for problem, examples in sorted(self.failures.items()):
            lines.append(f"- {problem} ({len(examples)} inputs), e.g.")
            lines.extend(f"    {example}" for example in examples[:3])
        return "\n".join(lines)

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def judge(probe: Probe, status: int, body: bytes, content_type: str = "application/json") -> str | None:
    """What is wrong with this answer, or None."""
    if status >= 500:
        return f"status {status}: {body[:200]!r}"
    text = body.decode("utf-8", "replace")
    leak = LEAK.search(text)
    if leak:
        return f"internal detail {leak.group(0)!r} in a {status} answer"
    # GET /graphql without a query answers GraphiQL's page, which is not JSON.
    if probe.graphql and status == 200 and content_type.startswith("application/json"):
        try:
            answer = json.loads(text)
        except ValueError:
            return "a 200 GraphQL answer that is not JSON"
        answers = answer if isinstance(answer, list) else [answer]
        for one in answers:
            for error in (one.get("errors") or []) if isinstance(one, dict) else []:
                code = (error.get("extensions") or {}).get("code")
                if code == "INTERNAL_SERVER_ERROR":
                    return f"masked internal error at {error.get('path')}"
    return None


async def _send_raw(base_url: str, probe: Probe) -> tuple[int, bytes]:
    """A request written byte for byte (HTTP/1.1, Connection: close); the status and body read back."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        head = [f"{probe.method} {probe.path} HTTP/1.1", f"Host: {address.netloc}", "Connection: close"]
        head.extend(f"{name}: {value}" for name, value in probe.headers)
        content = probe.content or b""
        if content or probe.method == "POST":
            head.append(f"Content-Length: {len(content)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape") + content)
        await writer.drain()
        answer = await reader.read()
    except ConnectionResetError:
        # uvicorn resets a connection whose request it refuses to parse before reading all of it.
        return 400, b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        # uvicorn (h11/httptools) closes on a request it cannot parse: not an answer, not a failure.
        return 400, answer
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]


async def send_all(http: httpx.AsyncClient, probes: Iterable[Probe], verdicts: Verdicts) -> None:
    """Send every probe, CONCURRENCY at a time, and judge each answer."""
    gate = verdicts.gate
    base_url = str(http.base_url).rstrip("/")

    async def one(probe: Probe) -> None:
        async with gate:
            verdicts.sent[probe.kind] += 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    if probe.raw:
                        status, body = await _send_raw(base_url, probe)
                        content_type = "application/json" if body[:1] in (b"{", b"[") else "text/plain"
                    else:
                        response = await http.request(
                            probe.method, probe.path, headers=list(probe.headers), content=probe.content
                        )
                        status, body = response.status_code, response.content
                        content_type = response.headers.get("content-type", "")
            except TimeoutError:
                verdicts.fail(probe, f"no answer within {REQUEST_TIMEOUT_SECONDS} s")
                return
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                verdicts.fail(probe, f"transport error {type(error).__name__}")
                return
            problem = judge(probe, status, body, content_type)
            if problem:
                verdicts.fail(probe, problem)

    await asyncio.gather(*(one(probe) for probe in probes))


class ErrorRecords(logging.Handler):
    """Keeps every ERROR record any logger writes while the fuzzer runs (stack traces of 500s and of
    masked GraphQL errors land here even when the answer hides them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not _benign(record):
            self.records.append(record)

    def summary(self) -> str:
        kinds: Counter[str] = Counter()
        for record in self.records:
            error = record.exc_info[1] if record.exc_info else None
            kinds[
                f"{record.name}: {record.getMessage()[:120]} ({type(error).__name__}: {str(error)[:200]})"
            ] += 1
        return "\n".join(f"- {count} x {kind}" for kind, count in kinds.most_common())


def _benign(record: logging.LogRecord) -> bool:
    """Errors others log about inputs we refuse or about their own plumbing, not ours to fail on."""
    # python-multipart logs "No boundary given" at ERROR for a multipart body without a boundary,
    # which the lead door then answers 400.
    if record.name.startswith("python_multipart"):
        return True
    # asyncpg's SSL negotiation (sslmode=prefer) leaves an unretrieved future when the shared test
    # PostgreSQL drops a connection attempt: it is about the test database, not an input.
    return record.name == "asyncio" and "unexpected connection_lost() call" in record.getMessage()


@contextmanager
def error_records() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def check(verdicts: Verdicts, records: ErrorRecords, *, at_least: int) -> None:
    """Fail on any bad answer or logged error, and on fewer inputs than promised."""
    assert not verdicts.failures, verdicts.report()
    assert not records.records, f"errors logged during the fuzz run:\n{records.summary()}"
    assert verdicts.total >= at_least, f"only {verdicts.total} inputs sent ({dict(verdicts.sent)})"


def unsendable(headers: tuple[tuple[str, str], ...]) -> bool:
    """Header values httpx refuses to write (control characters, non-ASCII, padding): sent raw."""
    return any(
        value != value.strip() or not all(" " <= char <= "~" for char in value) for _, value in headers
    )
