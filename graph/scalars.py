"""DateTime as the schema reads it: ISO 8601, refused (BAD_USER_INPUT) outside the instants callers may give."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from domain.instants import instant_problem


def _bad(message: str) -> GraphQLError:
    # graphql-core keeps these extensions when it wraps the error with the argument or variable.
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _parse(value: object) -> datetime:
    """Every DateTime argument passes here (filters, ranges): one check instead of one per resolver."""
    if not isinstance(value, str):
        raise _bad("a DateTime must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad(f"{value!r} is not an ISO 8601 date-time") from None
    problem = instant_problem(parsed)
    if problem:
        # Far-off dates overflowed later (local time, range defaults) as internal errors.
        raise _bad(f"{value!r}: a date-time {problem}")
    return parsed


# The same name and description as Strawberry's own, so the published schema does not change.
DateTime = strawberry.scalar(
    name="DateTime",
    description="Date with time (isoformat)",
    serialize=datetime.isoformat,
    parse_value=_parse,
)
