"""Open connections' callers kept current: revocations reach live subscriptions in every process.

A use case that changes users' access announces them after its commit (`AccessAnnouncer`); the
announcement goes to this process's watchers at once and to every other process over the event bus.
A process re-reads the announced users it watches in one query and hands each handle the result;
subscriptions then check every event against that in-memory principal (no query per event). An
announcement can be lost (broker down while it was published, or while a process was reconnecting),
so every watched user is also re-read every `recheck_seconds` and right after the broker reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

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
        principal = await self._registry.read(self.user_id, for_request=True)
        return principal

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
        """`engine` serves the re-reads (background work); `request_engine`, when given, the reads a
        request asks for (`reload`), so requests never take the background pool's connections."""
        self._engine = engine
        self._request_engine = request_engine or engine
        self._bus = bus
        self._recheck_seconds = recheck_seconds
        self._by_user: dict[str, set[_Live]] = {}
        # Announcements carry their origin: a process does not re-read its own twice.
        self._origin = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []
        self._reads: set[asyncio.Task[None]] = set()
        self.rechecks = 0

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

    def open(self, principal: Principal) -> _Live:
        live = _Live(self, principal)
        self._by_user.setdefault(live.user_id, set()).add(live)
        return live

    def forget(self, live: _Live) -> None:
        handles = self._by_user.get(live.user_id)
        if handles is not None:
            handles.discard(live)
            if not handles:
                del self._by_user[live.user_id]

    def watched(self) -> int:
        """How many handles are open (tests, metrics)."""
        return sum(len(handles) for handles in self._by_user.values())

    async def read(self, user_id: str, *, for_request: bool = False) -> Principal | None:
        """The user as the database has it now; every handle of it takes the result."""
        return (await self._read([user_id], for_request=for_request))[user_id]

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

    def _announced(self, user_ids: Iterable[str]) -> None:
        """Hold the users' deliveries at once (synchronously) and re-read them in the background."""
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

    async def _read(
        self, user_ids: Iterable[str], *, for_request: bool = False
    ) -> dict[str, Principal | None]:
        wanted = list(user_ids)
        began = {live: live.generation for user_id in wanted for live in self._by_user.get(user_id, ())}
        async with read_only(self._request_engine if for_request else self._engine) as connection:
            principals = await load_principals(connection, wanted)
        for live, generation in began.items():
            live.apply(principals[live.user_id], generation)
        return principals

    async def recheck(self) -> None:
        """Re-read every watched user (one query)."""
        if self._by_user:
            await self._read(list(self._by_user))
        self.rechecks += 1

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
