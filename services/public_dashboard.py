"""A public link's dashboard: its tenant's name, metrics and pipeline counts, and nothing personal;
read once, or followed live with pushes throttled and coalesced."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from domain.errors import NotFound
from domain.events import EventType, PublishedEvent
from domain.metrics import Metrics
from domain.ports import EventSubscriber
from domain.roles import Principal, Role
from persistence import public_links as link_store
from persistence.public_links import OpenLink
from services.deps import Deps
from services.metrics import tenant_metrics
from services.pipeline import PipelineBoard, PipelineColumn, pipeline_board

# Tokens are 43 URL-safe characters; anything else is not one (and is not worth a lookup).
MAX_TOKEN_LENGTH = 128
_TOKEN = re.compile(rf"[A-Za-z0-9_\-]{{1,{MAX_TOKEN_LENGTH}}}")
# At most this many pushes a second per subscription: a burst of leads is one fresh set of figures.
MIN_PUSH_INTERVAL_SECONDS = 0.25
# Figures also change with time alone (leads age into later columns, SLAs run out).
REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class PublicDashboard:
    link: OpenLink
    metrics: Metrics
    pipeline: PipelineBoard

    @property
    def figures(self) -> tuple[Metrics, tuple[PipelineColumn, ...]]:
        """What the page shows (the board's cut-off instant aside): equal figures are not pushed again."""
        return self.metrics, self.pipeline.columns


def _not_found() -> NotFound:
    return NotFound("no such public dashboard (unknown or revoked link)", fields={"token": "unknown"})


def _viewer(link: OpenLink) -> Principal:
    """A link reads its one tenant as the tenant's own client would (the metric services' rules)."""
    return Principal(
        user_id=f"public-link:{link.link_id}",
        email="",
        role=Role.CLIENT,
        tenant_ids=frozenset({link.tenant_id}),
    )


async def open_public_link(deps: Deps, *, token: str) -> OpenLink:
    """The unrevoked link behind `token`; NOT_FOUND for an unknown or revoked one."""
    if not _TOKEN.fullmatch(token):
        # Not a token this server hands out (a NUL would otherwise fail in SQL): no lookup.
        raise _not_found()
    async with deps.reader() as connection:
        link = await link_store.open_link(connection, token)
    if link is None:
        raise _not_found()
    return link


async def public_dashboard(deps: Deps, *, token: str) -> PublicDashboard:
    """The figures a public link shows, now (its tenant's last 30 days and its board)."""
    link = await open_public_link(deps, token=token)
    viewer = _viewer(link)
    # With the breakdowns (missed calls), minus the per-agent rows: a public page names nobody
    # (its GraphQL type cannot reach them either).
    found = await tenant_metrics(deps, actor=viewer, tenant_id=link.tenant_id, details=True)
    breakdowns = replace(found.breakdowns, by_agent=()) if found.breakdowns is not None else None
    metrics = replace(found, breakdowns=breakdowns)
    board = await pipeline_board(deps, actor=viewer, tenant_id=link.tenant_id)
    return PublicDashboard(link=link, metrics=metrics, pipeline=board)


def _revokes(event: PublishedEvent, link: OpenLink) -> bool:
    if event.type is not EventType.PUBLIC_LINK_REVOKED:
        return False
    revoked = event.payload.get("public_link")
    return isinstance(revoked, dict) and revoked.get("id") == str(link.link_id)


async def watch_public_dashboard(
    deps: Deps,
    *,
    subscriber: EventSubscriber,
    token: str,
    min_interval: float = MIN_PUSH_INTERVAL_SECONDS,
    refresh_seconds: float = REFRESH_SECONDS,
) -> AsyncIterator[PublicDashboard]:
    """The figures now, then fresh figures whenever the tenant's events (or time) change them; ends
    with NOT_FOUND as soon as the link is revoked. Events arriving while figures are being read or
    within `min_interval` of the last push are coalesced into the next read."""
    first = await public_dashboard(deps, token=token)
    link = first.link
    dirty = asyncio.Event()
    revoked = asyncio.Event()

    async def listen() -> None:
        events = subscriber.subscribe(frozenset({link.tenant_id}), None)
        try:
            async for event in events:
                if _revokes(event, link):
                    revoked.set()
                dirty.set()
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    listener = asyncio.create_task(listen(), name=f"public-dashboard-{link.link_id}")
    try:
        yield first
        last = first.figures
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dirty.wait(), timeout=refresh_seconds)
            if listener.done():
                # The event stream ended or failed: say so rather than go quiet.
                listener.result()
                raise _not_found()
            dirty.clear()
            if revoked.is_set():
                raise _not_found()
            # Reads the link again too: a revoke whose event is still in flight stops us here.
            fresh = await public_dashboard(deps, token=token)
            if fresh.figures != last:
                last = fresh.figures
                yield fresh
            await asyncio.sleep(min_interval)
            if revoked.is_set():
                raise _not_found()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
