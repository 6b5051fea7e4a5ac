"""Contacts: one person per tenant, unique by E.164 phone (else by email)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Text, bindparam, text
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


# The merge of one person into the tenant's contacts, as CTEs for a larger statement. They expect a
# CTE `hook` with one row (`tenant_id`) and run only when `{go}` holds. Rules: a contact is found by
# phone, else by email; it gains the fields it lacked and never loses a value (on metadata keys the
# existing value wins). Exactly one of the four branches yields the row, as CTE `contact`. Racing
# inserts of one new phone (or one new phoneless email) meet on a unique index and merge.
_GAINS = """
        name = coalesce(c.name, EXCLUDED.name),
        city = coalesce(c.city, EXCLUDED.city),
        metadata = EXCLUDED.metadata || c.metadata,
        updated_at = CASE
            WHEN (c.name IS NULL AND EXCLUDED.name IS NOT NULL)
              OR (c.city IS NULL AND EXCLUDED.city IS NOT NULL)
              OR (EXCLUDED.metadata || c.metadata) <> c.metadata
              {more_changed}
            THEN EXCLUDED.updated_at ELSE c.updated_at END"""

MERGE_CONTACT_CTES = f"""
contact_adopted AS (
    -- A new phone whose email belongs to a phoneless contact: that contact gains the phone.
    UPDATE contacts AS c SET
        phone = :phone, phone_raw = :phone_raw, phone_invalid = false,
        name = coalesce(c.name, :name), city = coalesce(c.city, :city),
        metadata = :metadata || c.metadata, updated_at = :at
    FROM hook
    WHERE {{go}} AND (SELECT :phone) IS NOT NULL
      AND c.tenant_id = hook.tenant_id AND c.phone IS NULL AND c.email = (SELECT :email)
      AND NOT EXISTS (SELECT 1 FROM contacts AS p WHERE p.tenant_id = hook.tenant_id AND p.phone = :phone)
    RETURNING c.*
),
contact_by_phone AS (
    INSERT INTO contacts AS c (tenant_id, phone, phone_raw, email, name, city, metadata, created_at, updated_at)
    SELECT hook.tenant_id, :phone, :phone_raw, :email, :name, :city, :metadata, :at, :at
    FROM hook
    WHERE {{go}} AND (SELECT :phone) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contact_adopted)
    ON CONFLICT (tenant_id, phone) DO UPDATE SET
        email = coalesce(c.email, EXCLUDED.email),
        phone_raw = coalesce(c.phone_raw, EXCLUDED.phone_raw),
        {_GAINS.format(more_changed="OR (c.email IS NULL AND EXCLUDED.email IS NOT NULL)").strip()}
    RETURNING c.*
),
contact_by_email AS (
    -- No usable phone: the tenant's oldest contact with this email gains what it lacked.
    UPDATE contacts AS c SET
        name = coalesce(c.name, :name), city = coalesce(c.city, :city),
        phone_raw = coalesce(c.phone_raw, :phone_raw),
        phone_invalid = c.phone_invalid OR (c.phone IS NULL AND c.phone_raw IS NULL AND :phone_invalid),
        metadata = :metadata || c.metadata,
        updated_at = CASE
            WHEN (c.name IS NULL AND :name IS NOT NULL)
              OR (c.city IS NULL AND :city IS NOT NULL)
              OR (c.phone_raw IS NULL AND :phone_raw IS NOT NULL)
              OR (:metadata || c.metadata) <> c.metadata
            THEN :at ELSE c.updated_at END
    WHERE {{go}} AND (SELECT :phone) IS NULL
      AND c.id = (
        SELECT e.id FROM contacts AS e JOIN hook ON e.tenant_id = hook.tenant_id
        WHERE e.email = (SELECT :email) ORDER BY e.created_at, e.id LIMIT 1
      )
    RETURNING c.*
),
contact_new_by_email AS (
    INSERT INTO contacts AS c
        (tenant_id, phone_raw, phone_invalid, email, name, city, metadata, created_at, updated_at)
    SELECT hook.tenant_id, :phone_raw, :phone_invalid, :email, :name, :city, :metadata, :at, :at
    FROM hook
    WHERE {{go}} AND (SELECT :phone) IS NULL AND NOT EXISTS (SELECT 1 FROM contact_by_email)
    ON CONFLICT (tenant_id, email) WHERE phone IS NULL AND email IS NOT NULL DO UPDATE SET
        phone_raw = coalesce(c.phone_raw, EXCLUDED.phone_raw),
        phone_invalid = c.phone_invalid OR (c.phone_raw IS NULL AND EXCLUDED.phone_invalid),
        {_GAINS.format(more_changed="OR (c.phone_raw IS NULL AND EXCLUDED.phone_raw IS NOT NULL)").strip()}
    RETURNING c.*
),
contact AS (
    SELECT * FROM contact_adopted UNION ALL SELECT * FROM contact_by_phone
    UNION ALL SELECT * FROM contact_by_email UNION ALL SELECT * FROM contact_new_by_email
)"""

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
    """The bind values `MERGE_CONTACT_CTES` reads."""
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


_UPSERT = text(
    "WITH hook AS (SELECT CAST(:tenant_id AS uuid) AS tenant_id),"
    + MERGE_CONTACT_CTES.format(go="true")
    + "\nSELECT * FROM contact"
).bindparams(*CONTACT_PARAMS)
