"""Fuzzing a running server: over 10,000 hostile inputs on every HTTP route; none may answer 5xx, hang,
leak a stack or database detail, give a masked internal GraphQL error, or log an error.

Inputs are drawn by Hypothesis with a fixed seed per kind (the same inputs on every run) and sent
concurrently over real HTTP to uvicorn on a loopback port, each kind as soon as it is drawn (drawing
runs in a thread meanwhile). A failure lists each kind of problem with example inputs.
`FUZZ_SCALE=4` sends four times as many for a longer hunt."""

from __future__ import annotations

import asyncio
import gc
import os
import time
import warnings
from collections.abc import Callable

import httpx
from hypothesis_graphql import Mode

from tests.conftest import serve
from tests.fuzz import graphql_inputs as gq
from tests.fuzz import route_inputs as ri
from tests.fuzz import webhook_inputs as wh
from tests.fuzz.support import (
    REQUEST_TIMEOUT_SECONDS,
    ErrorRecords,
    Probe,
    Verdicts,
    check,
    draw,
    error_records,
    send_all,
)
from tests.fuzz.world import World, build_world, webhook_targets

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
AT_LEAST = 10_000


def plans(world: World, hooks: World) -> list[Callable[[], list[Probe]]]:
    """What to draw, kind by kind (each a function, so drawing can run in a thread)."""
    n = SCALE
    return [
        lambda: gq.as_every_role(
            world, "query", draw(gq.documents(world, mutation=False), 160 * n, name="queries")
        ),
        lambda: wh.as_every_tenant(hooks, draw(wh.lead_bodies(hooks), 700 * n, name="lead")),
        lambda: gq.as_every_role(
            world, "mutation", draw(gq.documents(world, mutation=True), 100 * n, name="mutations")
        ),
        lambda: wh.as_every_tenant(hooks, draw(wh.dialpad_bodies(hooks), 1_100 * n, name="dialpad")),
        lambda: gq.as_every_role(
            world,
            "invalid",
            draw(gq.documents(world, mutation=False, mode=Mode.NEGATIVE), 80 * n, name="negative"),
        ),
        lambda: ri.as_admin_and_anonymous(world, draw(ri.routes(world), 1_300 * n, name="routes")),
        lambda: gq.as_every_role(
            world,
            "invalid",
            draw(gq.documents(world, mutation=True, mode=Mode.NEGATIVE), 40 * n, name="negative-m"),
        ),
        lambda: gq.also_as_admin(world, draw(gq.typed_variables(world), 900 * n, name="variables")),
        lambda: draw(gq.transports(world), 500 * n, name="transports"),
        lambda: draw(ri.raw_paths(world), 200 * n, name="raw paths"),
    ]


async def test_fuzz_every_route(make_app, engine, make_tenant, make_user):
    with warnings.catch_warnings():
        # Seen twice in ~10 runs, input not pinned down: graphql-core leaves the coroutines of a field's
        # siblings unawaited when the field's error propagates (a non-null field failing before
        # they are awaited). Their resolvers never start, the answer is the right error, but Python
        # warns when they are collected, which pytest turns into a failure of whichever test runs
        # then. Ignored for these two graphql-core/Strawberry frames only, and collected here.
        warnings.filterwarnings(
            "ignore", r"coroutine '(GraphQLCoreConverter|Executor)\..*' was never awaited", RuntimeWarning
        )
        verdicts, records, drawing, elapsed = await _fuzz(make_app, engine, make_tenant, make_user)
        gc.collect()
    print(  # noqa: T201 (the figures the issue asks for, shown with -s)
        f"fuzz: {verdicts.total} inputs in {elapsed:.1f} s (drawing {drawing:.1f} s of it): "
        f"{dict(sorted(verdicts.sent.items()))}"
    )
    check(verdicts, records, at_least=AT_LEAST)


async def _fuzz(make_app, engine, make_tenant, make_user) -> tuple[Verdicts, ErrorRecords, float, float]:
    """Start the server, build the data, draw and send every kind of input; the verdicts, the
    errors logged meanwhile, seconds spent drawing and seconds in all."""
    verdicts = Verdicts()
    started = time.monotonic()
    async with (
        serve(make_app()) as base_url,
        # The client drops an idle connection well before the server's 5 s keep-alive does: at
        # httpx's default (5 s too) a request could go out on a connection the server was closing,
        # a ReadError that says nothing of the server (seen once in a full run).
        httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS, limits=httpx.Limits(keepalive_expiry=1.0)
        ) as http,
    ):
        world = await build_world(http, engine, make_tenant, make_user)
        # Webhooks aim at tenants GraphQL mutations never see (a rotated token or a suspended
        # tenant would stop later inputs at the door).
        hooks = await webhook_targets(world, make_tenant)
        with error_records() as records:
            sending: list[asyncio.Task[None]] = []
            drawing = 0.0
            for plan in plans(world, hooks):
                began = time.monotonic()
                probes = await asyncio.to_thread(plan)
                drawing += time.monotonic() - began
                sending.append(asyncio.create_task(send_all(http, probes, verdicts)))
            await asyncio.gather(*sending)
    return verdicts, records, drawing, time.monotonic() - started
