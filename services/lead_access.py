"""Finding a lead for a caller who wants to act on it: hidden leads are NOT_FOUND, read-only ones FORBIDDEN."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Forbidden, NotFound
from domain.roles import Principal, can_see_tenant, can_work_leads
from persistence import lead_queries
from persistence.rows import LeadRow


async def lead_to_work(
    connection: AsyncConnection, *, actor: Principal, lead_id: UUID, field: str = "leadId"
) -> LeadRow:
    """The lead `actor` may change: NOT_FOUND if unknown or in a tenant it cannot see, FORBIDDEN if read-only."""
    lead = await lead_queries.get_lead(connection, lead_id)
    if lead is None or not can_see_tenant(actor, lead.tenant_id):
        raise NotFound("no such lead", fields={field: "unknown"})
    if not can_work_leads(actor, lead.tenant_id):
        raise Forbidden("you may not change leads of this tenant")
    return lead
