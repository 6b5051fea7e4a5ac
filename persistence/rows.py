"""Read models of leads, contacts, calls and notes: built from result rows or event-payload snapshots."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Self, TypeVar, get_args, get_type_hints
from uuid import UUID

from domain.calls import CallDirection, CallStatus
from domain.leads import LeadStatus

_Row = TypeVar("_Row")


def _base(kind: Any) -> Any:
    """`X | None` -> X."""
    args = [arg for arg in get_args(kind) if arg is not type(None)]
    return args[0] if args else kind


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    UUID: UUID,
    datetime: datetime.fromisoformat,
    Decimal: _decimal,
}


def _converter(kind: Any) -> tuple[type[Any], Callable[[Any], Any]]:
    """The field's type, and how to make one from a snapshot value (uuid/timestamp strings, floats)."""
    base = _base(kind)
    if base in _CONVERTERS:
        return base, _CONVERTERS[base]
    if isinstance(base, type) and issubclass(base, Enum):
        return base, base
    return object, lambda value: value


# Per row class: (field, type, converter), worked out once; rows are built by the thousand per page.
_PLANS: dict[type[Any], list[tuple[str, type[Any], Callable[[Any], Any]]]] = {}


def _plan(cls: type[Any]) -> list[tuple[str, type[Any], Callable[[Any], Any]]]:
    if cls not in _PLANS:
        hints = get_type_hints(cls)
        _PLANS[cls] = [(field.name, *_converter(hints[field.name])) for field in dataclasses.fields(cls)]
    return _PLANS[cls]


def _from_mapping(cls: type[_Row], data: Mapping[Any, Any]) -> _Row:
    values: dict[str, Any] = {}
    for name, kind, convert in _plan(cls):
        value = data.get(name)
        # Database rows already hold the right types (bar enums); snapshots hold strings and floats.
        values[name] = value if value is None or isinstance(value, kind) else convert(value)
    return cls(**values)


def _from_values(cls: type[_Row], values: Sequence[Any]) -> _Row:
    converted = [
        value if value is None or isinstance(value, kind) else convert(value)
        for value, (_, kind, convert) in zip(values, _plan(cls), strict=True)
    ]
    return cls(*converted)


class _RowModel:
    """`from_db` and `from_mapping` for the frozen dataclasses below (each a read model of one table)."""

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> Self:
        """From a result row whose columns are this class's fields in order (the fast path for pages)."""
        return _from_values(cls, row)

    @classmethod
    def from_mapping(cls, data: Mapping[Any, Any]) -> Self:
        """From a result row's mapping or an event snapshot (extra keys, such as raw_data, ignored)."""
        return _from_mapping(cls, data)


@dataclass(frozen=True)
class ContactRow(_RowModel):
    id: UUID
    tenant_id: UUID
    phone: str | None
    phone_raw: str | None
    email: str | None
    name: str | None
    city: str | None
    created_at: datetime


@dataclass(frozen=True)
class LeadRow(_RowModel):
    id: UUID
    tenant_id: UUID
    contact_id: UUID
    source: str
    status: LeadStatus
    notes: str | None
    city: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime | None
    first_attempt_at: datetime | None
    first_connected_at: datetime | None
    booked_at: datetime | None
    sla_breached_at: datetime | None


@dataclass(frozen=True)
class CallRow(_RowModel):
    id: UUID
    tenant_id: UUID
    external_id: str
    contact_id: UUID | None
    lead_id: UUID | None
    direction: CallDirection
    status: CallStatus
    disposition: str | None
    disposition_raw: str | None
    booked: bool
    from_number: str | None
    to_number: str | None
    external_number: str | None
    internal_number: str | None
    agent_id: str | None
    agent_name: str | None
    agent_email: str | None
    master_call_id: str | None
    entry_point_call_id: str | None
    operator_call_id: str | None
    customer_call_key: str | None
    is_primary_leg: bool
    linked: bool
    started_at: datetime | None
    rang_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: Decimal | None
    recording_url: str | None
    voicemail_url: str | None
    voicemail: bool
    last_event_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mapping(cls, data: Mapping[Any, Any]) -> CallRow:
        """From a result row's mapping or an event snapshot (extra keys ignored)."""
        row = _from_mapping(cls, data)
        # Snapshots of older writers may lack the booleans; absent means the column default.
        return dataclasses.replace(
            row,
            booked=bool(row.booked),
            is_primary_leg=True if row.is_primary_leg is None else bool(row.is_primary_leg),
            linked=bool(row.linked),
            voicemail=bool(row.voicemail),
        )


@dataclass(frozen=True)
class NoteRow(_RowModel):
    id: UUID
    tenant_id: UUID
    lead_id: UUID
    author_id: str | None
    author_name: str | None
    author_email: str | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class StatusChangeRow(_RowModel):
    id: int
    tenant_id: UUID
    lead_id: UUID
    from_status: LeadStatus | None
    to_status: LeadStatus
    changed_by: str | None
    reason: str | None
    changed_at: datetime
