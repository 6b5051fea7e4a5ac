"""Reading ids from GraphQL arguments: a malformed id is BAD_USER_INPUT naming the argument."""

from __future__ import annotations

from uuid import UUID

from domain.errors import BadInput


def parse_uuid(value: str, *, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as error:
        raise BadInput(f"{field} is not a valid id", fields={field: "not a valid id"}) from error


def parse_optional_uuid(value: str | None, *, field: str) -> UUID | None:
    return None if value is None else parse_uuid(value, field=field)
