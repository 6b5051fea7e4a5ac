"""Reading which tenants users belong to (a client's own tenant, an agent's assignments)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_TENANTS_OF = text(
    """
    SELECT u.id, CASE WHEN u.role = 'client' THEN array_remove(ARRAY[u.tenant_id], NULL)
                      ELSE coalesce(array_agg(a.tenant_id ORDER BY a.tenant_id) FILTER (WHERE a.tenant_id IS NOT NULL), '{}')
                 END AS tenant_ids
    FROM users u LEFT JOIN agent_assignments a ON a.user_id = u.id AND u.role = 'agent'
    WHERE u.id = ANY(:ids)
    GROUP BY u.id
    """
)


async def tenant_ids_of(connection: AsyncConnection, user_ids: Sequence[str]) -> dict[str, list[UUID]]:
    """Each user's tenants in one statement (admins: none listed, they see all)."""
    rows = await connection.execute(_TENANTS_OF, {"ids": list(user_ids)})
    found: dict[str, list[UUID]] = {user_id: [] for user_id in user_ids}
    for row in rows:
        found[row.id] = list(row.tenant_ids)
    return found
