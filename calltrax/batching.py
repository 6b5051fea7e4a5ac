"""Concurrent look-ups by key answered together: one statement for every key waiting at that moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_BATCH = 1000


class Coalescer(Generic[K, V]):
    """`get(key)` waits for a `load` of a batch that holds its key; the batch is every key asked for
    while no load was free, so a storm of 10,000 sockets costs a few dozen statements, not 10,000.

    A load answers only keys asked for before it started: a caller never gets a row read before it
    asked (subscriptions join their channel, then ask where the tenant's history ends; a revocation
    clears a cache, then the next read must be new). At most `concurrency` loads run at once, which
    is also all the database connections the look-ups of this coalescer can hold."""

    def __init__(
        self,
        load: Callable[[list[K]], Awaitable[dict[K, V]]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        concurrency: int = 1,
        name: str = "calltrax-coalescer",
    ) -> None:
        self._load = load
        self._max_batch = max_batch
        self._slots = asyncio.Semaphore(concurrency)
        self._name = name
        self._pending: dict[K, asyncio.Future[V]] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._scheduled = False
        # How many loads ran (tests, benchmarks).
        self.loads = 0

    async def get(self, key: K) -> V:
        future = self._pending.get(key)
        if future is None:
            future = self._pending[key] = asyncio.get_running_loop().create_future()
            self._schedule()
        # Shielded: one caller giving up must not cancel the answer its batch-mates wait for.
        return await asyncio.shield(future)

    async def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """`get` for many keys at once (their futures awaited together: no task per key)."""
        wanted = list(dict.fromkeys(keys))
        futures = []
        for key in wanted:
            future = self._pending.get(key)
            if future is None:
                future = self._pending[key] = asyncio.get_running_loop().create_future()
            futures.append(future)
        if not wanted:
            return {}
        self._schedule()
        # `wait` neither cancels the shared futures when this caller is cancelled nor leaves an
        # exception behind unretrieved (as a gather nobody awaits any more would).
        await asyncio.wait(futures)
        return {key: future.result() for key, future in zip(wanted, futures, strict=True)}

    def _schedule(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        task = asyncio.get_running_loop().create_task(self._run(), name=self._name)
        self._runners.add(task)
        task.add_done_callback(self._runners.discard)

    async def _run(self) -> None:
        async with self._slots:
            # Callers woken in the same turn of the event loop join this batch.
            await asyncio.sleep(0)
            self._scheduled = False
            taken = list(self._pending.items())[: self._max_batch]
            for key, _ in taken:
                del self._pending[key]
            if self._pending:
                # The rest waits for the next free slot.
                self._schedule()
            if not taken:
                return
            self.loads += 1
            try:
                found = await self._load([key for key, _ in taken])
            except BaseException as error:
                for _, future in taken:
                    if not future.done():
                        future.set_exception(
                            error if isinstance(error, Exception) else RuntimeError("cancelled")
                        )
                        # Retrieved here so an unawaited one is not reported as never retrieved.
                        future.exception()
                if not isinstance(error, Exception):
                    raise
                return
            for key, future in taken:
                if not future.done():
                    if key in found:
                        future.set_result(found[key])
                    else:
                        future.set_exception(KeyError(key))
                        future.exception()

    async def close(self) -> None:
        for task in list(self._runners):
            task.cancel()
        for task in list(self._runners):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
