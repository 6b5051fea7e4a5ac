"""Export the calls a caller may see: the GraphQL list's filters and scoping, streamed in batches."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any
from uuid import UUID

from domain.roles import Principal
from persistence import call_queries
from persistence.call_queries import CallFilter
from persistence.unit_of_work import snapshot_batches
from services.deps import Deps
from services.find_calls import call_selection

EXPORT_BATCH = 2000


async def export_calls(
    deps: Deps, *, actor: Principal, tenant_id: UUID | None, where: CallFilter, batch: int = EXPORT_BATCH
) -> AsyncGenerator[Sequence[Sequence[Any]], None]:
    """Checks the request now (raising before any row), then returns the matching calls newest first
    (by start) in batches of `call_queries.CALL_EXPORT_COLUMNS`, read from one snapshot."""
    scope = await call_selection(deps, actor=actor, tenant_id=tenant_id, where=where)

    return snapshot_batches(
        deps.engine,
        lambda connection: call_queries.stream_calls(connection, tenant_ids=scope, where=where, batch=batch),
    )
