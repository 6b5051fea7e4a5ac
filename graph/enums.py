"""Domain enums registered as GraphQL enums (upper-case names on the wire, lower-case values in SQL)."""

from __future__ import annotations

import strawberry

from domain.calls import CallDirection, CallStatus
from domain.leads import LeadStatus, PipelineStage
from domain.roles import Role
from domain.tenants import DialpadMode, SlaClock, TenantStatus

# strawberry.enum marks the class itself, so annotations keep the domain types (and mypy sees them).
for _enum, _name in (
    (Role, "Role"),
    (LeadStatus, "LeadStatus"),
    (PipelineStage, "PipelineStage"),
    (CallDirection, "CallDirection"),
    (CallStatus, "CallStatus"),
    (TenantStatus, "TenantStatus"),
    (DialpadMode, "DialpadMode"),
    (SlaClock, "SlaClock"),
):
    strawberry.enum(_enum, name=_name)

__all__ = [
    "CallDirection",
    "CallStatus",
    "DialpadMode",
    "LeadStatus",
    "PipelineStage",
    "Role",
    "SlaClock",
    "TenantStatus",
]
