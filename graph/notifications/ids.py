"""Reading ids from arguments: a malformed id is BAD_USER_INPUT naming the argument."""

from __future__ import annotations

from uuid import UUID

from domain.errors import BadInput


def parse_id(value: str, *, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as error:
        raise BadInput(f"{field} is not a valid id", fields={field: "not a valid id"}) from error
