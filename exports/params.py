"""Query parameters of the export URLs, read into the list filters the GraphQL lists use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TypeVar
from uuid import UUID

from starlette.datastructures import QueryParams

from domain.errors import BadInput
from domain.instants import instant_problem

E = TypeVar("E", bound=Enum)
T = TypeVar("T")


class Params:
    """Reads parameters by their GraphQL filter names; collects every problem, then raises once."""

    def __init__(self, query: QueryParams, *, known: set[str]) -> None:
        self._query = query
        self.problems: dict[str, str] = {}
        for name in query:
            if name not in known:
                self.problems[name] = f"unknown parameter (known: {', '.join(sorted(known))})"

    def _single(self, name: str) -> str | None:
        values = self._query.getlist(name)
        if len(values) > 1:
            self.problems[name] = "give it at most once"
            return None
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        return self._single(name)

    def texts(self, name: str) -> tuple[str, ...]:
        """A list: the parameter repeated (`source=a&source=b`)."""
        return tuple(value for value in self._query.getlist(name) if value != "")

    def enums(self, name: str, kind: type[E]) -> tuple[E, ...]:
        """A list of enum names as GraphQL spells them (`status=NEW&status=BOOKED` or `status=NEW,BOOKED`)."""
        found: list[E] = []
        for value in self._query.getlist(name):
            for part in value.split(","):
                part = part.strip()
                if not part:
                    continue
                try:
                    found.append(kind[part.upper()])
                except KeyError:
                    choices = ", ".join(member.name for member in kind)
                    self.problems[name] = f"{part!r} is not one of {choices}"
        return tuple(dict.fromkeys(found))

    def uuid(self, name: str) -> UUID | None:
        return self._parsed(name, UUID, "not an id")

    def time(self, name: str) -> datetime | None:
        """ISO 8601 with a UTC offset (`2025-01-31T00:00:00+08:00`, `...Z`)."""
        value = self._parsed(name, datetime.fromisoformat, "not an ISO 8601 timestamp")
        if value is not None and value.utcoffset() is None:
            self.problems[name] = "needs a UTC offset (e.g. Z or +08:00)"
            return None
        problem = instant_problem(value) if value is not None else None
        if problem:
            self.problems[name] = problem
            return None
        return value

    def _parsed(self, name: str, parse: Callable[[str], T], problem: str) -> T | None:
        value = self._single(name)
        if value is None:
            return None
        try:
            return parse(value.strip())
        except ValueError:
            self.problems[name] = problem
            return None

    def check(self) -> None:
        if self.problems:
            raise BadInput("bad query parameters", fields=self.problems)
