"""The events every write records and publishes, on its tenant's ordered channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID


class EventType(StrEnum):
    LEAD_CREATED = "LEAD_CREATED"
    LEAD_UPDATED = "LEAD_UPDATED"
    LEAD_STAGE_CHANGED = "LEAD_STAGE_CHANGED"
    CALL_UPDATED = "CALL_UPDATED"
    SLA_BREACHED = "SLA_BREACHED"
    TENANT_UPDATED = "TENANT_UPDATED"
    PUBLIC_LINK_REVOKED = "PUBLIC_LINK_REVOKED"


@dataclass(frozen=True)
class NewEvent:
    """An event a use case records inside its transaction; its `seq` is assigned after commit."""

    tenant_id: UUID
    type: EventType
    payload: dict[str, Any]


@dataclass(frozen=True)
class PublishedEvent:
    """An event with its place in the tenant's history: `seq` is dense and increasing per tenant."""

    tenant_id: UUID
    seq: int
    type: EventType
    payload: dict[str, Any]


def tenant_channel(tenant_id: UUID) -> str:
    """The broadcast channel carrying one tenant's events."""
    return f"calltrax.tenant.{tenant_id}"


# Payload conventions (writers and subscribers both rely on these):
# - LEAD_CREATED / LEAD_UPDATED / LEAD_STAGE_CHANGED / SLA_BREACHED:
#     {"lead": <snapshot of the leads row without raw_data>, "contact": <snapshot of its contact>,
#      "changes": [<column names that changed>]}   ("changes" absent on LEAD_CREATED)
#   LEAD_UPDATED with "status" in changes adds "from_status", "from_stage", "to_stage" (stages are
#   PipelineStage values, null off the board); LEAD_STAGE_CHANGED (the stage sweep: the lead aged into
#   another column, or its tenant's bounds changed) has changes ["stage"] and "from_stage", "to_stage".
# - CALL_UPDATED: {"call": <snapshot of the calls row>, "kind": "RINGING" | "CONNECTED" | "ENDED" | "DISPOSITION"}
# Snapshots come from persistence/snapshots.py: column names as in persistence/tables.py,
# uuids as strings, timestamps as ISO 8601 UTC, numerics as numbers.
# - PUBLIC_LINK_REVOKED: {"public_link": {"id": <uuid string>, "revoked_at": <ISO 8601 UTC>}} (never the token)
