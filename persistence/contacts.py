"""Contacts: one person per tenant, unique by E.164 phone (else by email)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# DO UPDATE (a no-op write) rather than DO NOTHING so RETURNING yields the existing row's id too.
_ENSURE_BY_PHONE = text(
    """
    INSERT INTO contacts (tenant_id, phone, name)
    VALUES (:tenant_id, :phone, :name)
    ON CONFLICT (tenant_id, phone) DO UPDATE
        SET name = coalesce(contacts.name, EXCLUDED.name)
    RETURNING id
    """
)


async def ensure_contact_by_phone(
    connection: AsyncConnection, *, tenant_id: UUID, phone_e164: str, name: str | None = None
) -> UUID:
    """The tenant's contact with this E.164 phone, created if unknown; race-safe (one statement)."""
    row = (
        await connection.execute(
            _ENSURE_BY_PHONE, {"tenant_id": tenant_id, "phone": phone_e164, "name": name}
        )
    ).one()
    contact_id: UUID = row.id
    return contact_id
