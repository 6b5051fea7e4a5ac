"""How SQLAlchemy converts each bound value of a compiled statement for the driver, from public API only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.sql.compiler import Compiled, SQLCompiler

BindProcessor = Callable[[Any], Any]


def bind_processors(compiled: Compiled) -> dict[str, BindProcessor | None]:
    """Each bound parameter's name in the compiled SQL -> the function that converts its value for the
    driver (None: passed as is). The same conversion SQLAlchemy applies when it executes `compiled`
    itself (its private `_bind_processors`): each parameter type's implementation for the dialect,
    asked for its bind processor (tests/persistence/test_bind_processors.py checks they agree)."""
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not a compiled SQL statement: {type(compiled).__name__}")
    dialect = compiled.dialect
    return {
        name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
    }
