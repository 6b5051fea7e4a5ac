"""Open connections' callers kept current: revocations reach live subscriptions in every process.

A use case that changes users' access announces them after its commit (`AccessAnnouncer`); the
announcement goes to this process's watchers at once and to every other process over the event bus.
A process re-reads the announced users it watches in one query and hands each handle the result;
subscriptions then check every event against that in-memory principal (no query per event). An
announcement can be lost (broker down while it was published, or while a process was reconnecting),
so every watched user is also re-read every `recheck_seconds` and right after the broker reconnects.

New sockets authenticate from a short-lived cache of principals (no query per socket when a
thousand dashboards of a few users reconnect at once): an entry lives `recheck_seconds` at most, and
an announcement (from any process) drops its users at once, as a broker reconnect drops them all,
so a cached principal is never staler than what open sockets already hold. Misses are read in
batches (`WHERE id = ANY(...)`, one statement for every socket that asked meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from calltrax.batching import Coalescer
from calltrax.event_bus import EventBus
from domain.roles import Principal
from persistence.unit_of_work import read_only
from persistence.users import load_principals

log = logging.getLogger(__name__)

ACCESS_CHANNEL = "calltrax.access"
DEFAULT_RECHECK_SECONDS = 5.0
# An announcement waits this long for the broker; past it, other processes catch up on their re-read.
ANNOUNCE_TIMEOUT_SECONDS = 1.0


class _Live:
    """Implements `LiveAccess` for one connection (or one HTTP-streamed subscription)."""

    def __init__(self, registry: AccessRegistry, principal: Principal) -> None:
        self._registry = registry
        self.user_id = principal.user_id
        self._principal: Principal | None = principal
        # Bumped by every announcement: a read started before the latest one cannot settle it.
        self.generation = 0
        self._settled = asyncio.Event()
        self._settled.set()
        self._callbacks: list[Callable[[], None]] = []
        self.closed = False

    @property
    def principal(self) -> Principal | None:
        return self._principal

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    async def settle(self) -> Principal | None:
        await self._settled.wait()
        return self._principal

    async def reload(self) -> Principal | None:
        return await self._registry.current(self)

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def undo() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return undo

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._registry.forget(self)

    def announced(self) -> None:
        """A change is on its way: hold deliveries until it has been read."""
        self.generation += 1
        self._settled.clear()

    def apply(self, principal: Principal | None, generation: int) -> None:
        """The result of a read begun at `generation` (a newer announcement's read settles instead)."""
        if generation != self.generation:
            return
        changed = principal != self._principal
        self._principal = principal
        self._settled.set()
        if changed:
            for callback in list(self._callbacks):
                try:
                    callback()
                except Exception:
                    log.exception("an access change callback failed")


class AccessRegistry:
    """Implements `AccessWatcher` and `AccessAnnouncer`: one per process, sharing the event bus."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus,
        *,
        recheck_seconds: float = DEFAULT_RECHECK_SECONDS,
        request_engine: AsyncEngine | None = None,
    ) -> None:
        """`engine` serves the periodic re-reads (background work); `request_engine`, when given, the
        reads sockets ask for (sign-in, `reload`, batched by the coalescer onto one connection at a
        time), so requests never take the background pool's connections."""
        self._engine = engine
        self._request_engine = request_engine or engine
        self._bus = bus
        self._recheck_seconds = recheck_seconds
        self._by_user: dict[str, set[_Live]] = {}
        # Announcements carry their origin: a process does not re-read its own twice.
        self._origin = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []
        self._reads: set[asyncio.Task[None]] = set()
        # Principals read lately, with when (monotonic); only active users (a refusal is not kept).
        self._cache: dict[str, tuple[Principal, float]] = {}
        # Drops counted: a read begun before a user's drop must not put the old principal back.
        self._drops = 0
        self._dropped_at: dict[str, int] = {}
        self._all_dropped_at = 0
        self._reads_in_flight = 0
        self._principals: Coalescer[str, Principal | None] = Coalescer(
            self._load, name="calltrax-access-load"
        )

    async def start(self) -> None:
        listening = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._listen(listening), name="calltrax-access-listener"),
            asyncio.create_task(self._recheck_forever(), name="calltrax-access-recheck"),
        ]
        # Joined before the first socket can open (a broker that is down joins on its reconnect).
        await asyncio.wait({listening, self._tasks[0]}, return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._reads]:
            task.cancel()
        for task in [*self._tasks, *self._reads]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._principals.close()

    async def principal(self, user_id: str) -> Principal | None:
        """The active user `user_id` (None: missing or inactive), cached or read with others' misses."""
        entry = self._cache.get(user_id)
        if entry is not None and time.monotonic() - entry[1] < self._recheck_seconds:
            return entry[0]
        return await self._principals.get(user_id)

    def open(self, principal: Principal) -> _Live:
        live = _Live(self, principal)
        self._by_user.setdefault(live.user_id, set()).add(live)
        if not self._is_current(principal):
            # Read before a change that has been announced since (this socket's user was dropped
            # meanwhile): hold its deliveries until the user is read again.
            self._announced([live.user_id])
        return live

    def _is_current(self, principal: Principal | None) -> bool:
        """Whether `principal` is what the cache holds now, fresh (no change announced since)."""
        if principal is None:
            return False
        entry = self._cache.get(principal.user_id)
        return (
            entry is not None
            and entry[0] == principal
            and time.monotonic() - entry[1] < self._recheck_seconds
        )

    async def current(self, live: _Live) -> Principal | None:
        """The handle's user as of now: its principal when the cache agrees, else read again."""
        principal = await live.settle()
        if self._is_current(principal):
            return principal
        return await self.read(live.user_id)

    def forget(self, live: _Live) -> None:
        handles = self._by_user.get(live.user_id)
        if handles is not None:
            handles.discard(live)
            if not handles:
                del self._by_user[live.user_id]

    def watched(self) -> int:
        """How many handles are open (tests, metrics)."""
        return sum(len(handles) for handles in self._by_user.values())

    async def read(self, user_id: str) -> Principal | None:
        """The user as the database has it now; every handle of it takes the result."""
        return (await self._read([user_id]))[user_id]

    async def access_changed(self, user_ids: Iterable[str]) -> None:
        users = sorted(set(user_ids))
        self._announced(users)
        message = json.dumps({"origin": self._origin, "users": users}, separators=(",", ":"))
        try:
            await asyncio.wait_for(self._bus.announce(ACCESS_CHANNEL, message), ANNOUNCE_TIMEOUT_SECONDS)
        except Exception:
            # Committed already: the other processes see it on their next periodic re-read.
            log.warning(
                "could not announce an access change to other processes; they re-read within %.0f s",
                self._recheck_seconds,
                exc_info=True,
            )

    def _drop(self, user_ids: Iterable[str] | None) -> None:
        """Forget cached principals (None: all), and keep reads in flight from putting them back."""
        self._drops += 1
        if user_ids is None:
            self._cache.clear()
            self._all_dropped_at = self._drops
            return
        for user_id in user_ids:
            self._cache.pop(user_id, None)
            if self._reads_in_flight:
                self._dropped_at[user_id] = self._drops

    async def _load(self, user_ids: list[str]) -> dict[str, Principal | None]:
        """One statement for a batch of users; results are cached unless dropped meanwhile."""
        began = self._drops
        self._reads_in_flight += 1
        try:
            async with read_only(self._request_engine) as connection:
                principals = await load_principals(connection, user_ids)
        finally:
            self._reads_in_flight -= 1
        if began >= self._all_dropped_at:
            now = time.monotonic()
            for user_id, principal in principals.items():
                if self._dropped_at.get(user_id, 0) > began:
                    continue
                if principal is None:
                    self._cache.pop(user_id, None)
                else:
                    self._cache[user_id] = (principal, now)
        if not self._reads_in_flight:
            # Every read still to come begins after these drops.
            self._dropped_at.clear()
        return principals

    def _announced(self, user_ids: Iterable[str]) -> None:
        """Hold the users' deliveries at once (synchronously) and re-read them in the background."""
        user_ids = list(user_ids)
        self._drop(user_ids)
        watched = [user_id for user_id in user_ids if user_id in self._by_user]
        if not watched:
            return
        for user_id in watched:
            for live in self._by_user[user_id]:
                live.announced()
        task = asyncio.create_task(self._read_until_done(watched), name="calltrax-access-read")
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read_until_done(self, user_ids: list[str]) -> None:
        # Deliveries of these users wait meanwhile: keep trying (the periodic re-read also settles them).
        while True:
            try:
                await self._read(user_ids)
                return
            except Exception:
                log.warning("could not re-read announced users' access; retrying", exc_info=True)
                await asyncio.sleep(0.5)

    async def _read(self, user_ids: Iterable[str]) -> dict[str, Principal | None]:
        wanted = list(user_ids)
        began = {live: live.generation for user_id in wanted for live in self._by_user.get(user_id, ())}
        principals = await self._principals.get_many(wanted)
        for live, generation in began.items():
            live.apply(principals[live.user_id], generation)
        return principals

    async def recheck(self) -> None:
        """Re-read every watched user (one statement per thousand), and forget stale cache entries."""
        stale = time.monotonic() - self._recheck_seconds
        for user_id in [user for user, (_, read_at) in self._cache.items() if read_at < stale]:
            del self._cache[user_id]
        if self._by_user:
            await self._read(list(self._by_user))

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_seconds)
            try:
                await self.recheck()
            except Exception:
                log.warning("could not re-read the access of connected users", exc_info=True)

    async def _listen(self, listening: asyncio.Future[None]) -> None:
        while True:
            try:
                async with self._bus.notices(ACCESS_CHANNEL) as notices:
                    if not listening.done():
                        listening.set_result(None)
                    async for notice in notices:
                        if notice is None:
                            # Reconnected: announcements made meanwhile are lost; re-read everyone.
                            self._drop(None)
                            self._announced(list(self._by_user))
                            continue
                        self._on_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("access announcements: listening failed; listening again", exc_info=True)
                await asyncio.sleep(0.5)

    def _on_notice(self, notice: str) -> None:
        try:
            data = json.loads(notice)
            origin = data["origin"]
            users = [str(user) for user in data["users"]]
        except (ValueError, KeyError, TypeError):
            log.error("dropping an undecodable access announcement")
            return
        if origin != self._origin:
            self._announced(users)
