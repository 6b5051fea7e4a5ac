"""The coalescer: one load for every key asked meanwhile, never answered by a load begun earlier."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from calltrax.batching import Coalescer


class Loads:
    """A load function whose calls the test releases one by one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(sorted(keys))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the database is down")
        return {key: f"{key}@{len(self.batches)}" for key in keys if key != "missing"}


async def test_keys_asked_together_share_a_load_and_later_ones_wait_for_the_next() -> None:
    loads = Loads()
    coalescer: Coalescer[str, str] = Coalescer(loads)
    first = [asyncio.ensure_future(coalescer.get(key)) for key in ("a", "b", "a")]
    await asyncio.sleep(0.01)
    assert loads.batches == [["a", "b"]]
    # Asked while that load runs: answered by a load that starts after it was asked.
    late = asyncio.ensure_future(coalescer.get("a"))
    many = asyncio.ensure_future(coalescer.get_many(["b", "c"]))
    await asyncio.sleep(0.01)
    assert loads.batches == [["a", "b"]]
    loads.release.set()
    assert await asyncio.gather(*first) == ["a@1", "b@1", "a@1"]
    assert await late == "a@2"
    assert await many == {"b": "b@2", "c": "c@2"}
    assert loads.batches == [["a", "b"], ["a", "b", "c"]]
    assert coalescer.loads == 2
    with pytest.raises(KeyError):
        await coalescer.get("missing")


async def test_a_failed_load_fails_its_callers_only_and_a_cancelled_caller_cancels_no_one() -> None:
    loads = Loads()
    coalescer: Coalescer[str, str] = Coalescer(loads)
    loads.fail = True
    failing = asyncio.ensure_future(coalescer.get("a"))
    leaving = asyncio.ensure_future(coalescer.get("a"))
    await asyncio.sleep(0.01)
    leaving.cancel()
    loads.release.set()
    with pytest.raises(RuntimeError, match="database is down"):
        await failing
    with contextlib.suppress(asyncio.CancelledError):
        await leaving
    loads.fail = False
    assert await coalescer.get("a") == "a@2"
    assert await coalescer.get_many([]) == {}
    await coalescer.close()
