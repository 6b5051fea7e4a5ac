"""persistence.bind_processors gives the driver the values SQLAlchemy itself would (its private API is the
reference here, so a SQLAlchemy release that changes how values are bound fails this test, loudly)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import pytest
from sqlalchemy import Enum, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.types import DateTime, Integer, Numeric, Text

from persistence.bind_processors import bind_processors


class Colour(enum.Enum):
    RED = "red"


# The driver statements' parameter types: JSON documents, ids, instants, numbers, text, enums.
STATEMENT = text("SELECT :doc, :id, :at, :count, :amount, :name, :colour, :untyped, :doc").bindparams(
    bindparam("doc", type_=JSONB),
    bindparam("id", type_=UUID(as_uuid=True)),
    bindparam("at", type_=DateTime(timezone=True)),
    bindparam("count", type_=Integer),
    bindparam("amount", type_=Numeric(12, 3)),
    bindparam("name", type_=Text),
    bindparam("colour", type_=Enum(Colour)),
)
VALUES: dict[str, Any] = {
    "doc": {"lead": {"tags": ["a", "b"]}, "n": 1},
    "id": uuid.UUID(int=7),
    "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    "count": 3,
    "amount": 1.5,
    "name": "Ada",
    "colour": Colour.RED,
    "untyped": "x",
}


def _converted(processors: dict[str, Any]) -> dict[str, Any]:
    return {
        name: processor(VALUES[name]) if processor is not None else VALUES[name]
        for name, processor in processors.items()
    }


def test_the_public_bind_processors_convert_every_value_as_sqlalchemy_does() -> None:
    compiled = STATEMENT.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    ours = bind_processors(compiled)
    reference = compiled._bind_processors  # type: ignore[attr-defined]
    assert set(ours) == set(compiled.positiontup or ()) == set(VALUES)
    # SQLAlchemy leaves out the parameters it passes as they are.
    assert _converted(ours) == _converted({name: reference.get(name) for name in ours})
    # JSON is the conversion that matters most: asyncpg is handed text, not a dict.
    assert isinstance(_converted(ours)["doc"], str)


def test_only_compiled_sql_is_accepted() -> None:
    with pytest.raises(TypeError, match="not a compiled SQL statement"):
        bind_processors(object())  # type: ignore[arg-type]
