"""Contacts: one person per tenant, unique by E.164 phone (else by email)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Text, bindparam
from sqlalchemy.dialects.postgresql import JSONB

from persistence.errors import unique_violation


@dataclass(frozen=True)
class ContactFields:
    """What a lead says about its person; `phone` is E.164 or None, `phone_raw` as given."""

    phone: str | None
    phone_raw: str | None
    phone_invalid: bool
    email: str | None
    name: str | None
    city: str | None
    metadata: dict[str, Any]


def contact_gains_sql(*, also_gained: str) -> str:
    """The SET items by which a contact `c` meeting a new one (EXCLUDED) on a unique key gains the name,
    city and metadata keys it lacked (on metadata keys the existing value wins); its updated_at moves
    only when it gained something, `also_gained` being one more such condition."""
    return f"""
        name = coalesce(c.name, EXCLUDED.name),
        city = coalesce(c.city, EXCLUDED.city),
        metadata = EXCLUDED.metadata || c.metadata,
        updated_at = CASE
            WHEN (c.name IS NULL AND EXCLUDED.name IS NOT NULL)
              OR (c.city IS NULL AND EXCLUDED.city IS NOT NULL)
              OR (EXCLUDED.metadata || c.metadata) <> c.metadata
              OR {also_gained}
            THEN EXCLUDED.updated_at ELSE c.updated_at END"""


# The intake statement's contact merge (persistence/sql/lead_ingest.sql) reads these.
CONTACT_PARAMS = (
    bindparam("phone", type_=Text),
    bindparam("phone_raw", type_=Text),
    bindparam("phone_invalid", type_=Boolean),
    bindparam("email", type_=Text),
    bindparam("name", type_=Text),
    bindparam("city", type_=Text),
    bindparam("metadata", type_=JSONB),
    bindparam("at", type_=DateTime(timezone=True)),
)


def contact_values(fields: ContactFields, at: datetime) -> dict[str, Any]:
    """The bind values of the intake's contact merge (persistence/sql/lead_ingest.sql)."""
    return {
        "phone": fields.phone,
        "phone_raw": fields.phone_raw,
        "phone_invalid": fields.phone_invalid,
        "email": fields.email,
        "name": fields.name,
        "city": fields.city,
        "metadata": fields.metadata,
        "at": at,
    }


class ContactRaced(Exception):
    """A phoneless contact was given a phone that a concurrent transaction just claimed; retry."""


def is_contact_race(error: BaseException) -> bool:
    """Whether `error` is the unique phone key refusing an adopted phone (the retry resolves it)."""
    return unique_violation(error, "uq_contacts_tenant_id_phone")
