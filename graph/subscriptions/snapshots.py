"""Interim Lead and Call types built from event payload snapshots, until the API issue's types land.

Only fields the full types will also have (same names), so clients' documents keep working."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graph.enums import CallDirection, CallStatus, LeadStatus


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@strawberry.type
class Lead:
    id: strawberry.ID
    tenant_id: strawberry.ID
    status: LeadStatus
    source: str
    created_at: datetime

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Lead:
        created_at = _time(data.get("created_at"))
        assert created_at is not None, "a lead snapshot always has created_at"
        return cls(
            id=strawberry.ID(str(data["id"])),
            tenant_id=strawberry.ID(str(data["tenant_id"])),
            status=LeadStatus(data["status"]),
            source=str(data.get("source") or ""),
            created_at=created_at,
        )


@strawberry.type
class Call:
    id: strawberry.ID
    tenant_id: strawberry.ID
    status: CallStatus
    direction: CallDirection
    disposition: str | None
    started_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Call:
        return cls(
            id=strawberry.ID(str(data["id"])),
            tenant_id=strawberry.ID(str(data["tenant_id"])),
            status=CallStatus(data["status"]),
            direction=CallDirection(data["direction"]),
            disposition=data.get("disposition"),
            started_at=_time(data.get("started_at")),
            connected_at=_time(data.get("connected_at")),
            ended_at=_time(data.get("ended_at")),
        )
