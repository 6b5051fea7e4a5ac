"""Events are recorded through one door: a write marks the event rows it made on its `EventLog`
(`Transaction.record()` or `recorded_in_sql()`), and `services/deps.py` alone hands them to the
publisher once the write has committed (docs/architecture.md, "Where each rule lives")."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ports import SystemClock
from persistence.unit_of_work import EventLog
from services.deps import Deps

ROOT = Path(__file__).resolve().parents[1]


class Published:
    """A publisher that keeps what it was told, in order."""

    def __init__(self) -> None:
        self.calls: list[set[UUID]] = []

    def committed(self, tenant_ids: Iterable[UUID]) -> None:
        self.calls.append(set(tenant_ids))


async def _failing_after_marking(block: AbstractAsyncContextManager[EventLog], tenant: UUID) -> None:
    async with block as log:
        log.recorded_in_sql(tenant)
        raise RuntimeError("after the statement")


def _deps(engine: AsyncEngine, publisher: Published) -> Deps:
    return Deps(engine=engine, publisher=publisher, clock=SystemClock(), tokens=None)


async def test_statements_publish_what_they_marked_once_the_block_ends(engine: AsyncEngine) -> None:
    publisher = Published()
    deps = _deps(engine, publisher)
    tenant = uuid4()
    async with deps.statements() as work:
        await work.connection.execute(text("SELECT 1"))
        work.recorded_in_sql(tenant)
        assert publisher.calls == []  # not before the block ends
    assert publisher.calls == [{tenant}]
    async with deps.statements():
        pass
    assert publisher.calls == [{tenant}]  # nothing marked, nothing published


async def test_statements_publish_what_committed_before_an_error(engine: AsyncEngine) -> None:
    publisher = Published()
    deps = _deps(engine, publisher)
    tenant = uuid4()
    with pytest.raises(RuntimeError):
        # The marked statement committed on its own before the error.
        await _failing_after_marking(deps.statements(), tenant)
    assert publisher.calls == [{tenant}]


async def test_a_unit_of_work_publishes_only_after_it_committed(engine: AsyncEngine) -> None:
    publisher = Published()
    deps = _deps(engine, publisher)
    tenant = uuid4()
    with pytest.raises(RuntimeError):
        await _failing_after_marking(deps.unit_of_work(), tenant)  # rolled back
    assert publisher.calls == []
    async with deps.unit_of_work() as tx:
        tx.recorded_in_sql(tenant)
    assert publisher.calls == [{tenant}]


def _sources() -> Iterable[tuple[str, ast.AST]]:
    for folder in ("calltrax", "services", "persistence", "graph", "webhooks", "exports"):
        for path in (ROOT / folder).rglob("*.py"):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))


def test_only_deps_tells_the_publisher_and_only_the_event_log_keeps_the_tenants() -> None:
    publishers, keepers = set(), set()
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "committed":
                publishers.add(name)
            if isinstance(node, ast.Attribute) and node.attr == "event_tenants":
                keepers.add(name)
    # calltrax/relay.py defines `committed` (the publisher itself) but never calls it on another.
    assert publishers == {"services/deps.py"}
    assert keepers == {"persistence/unit_of_work.py", "services/deps.py"}
