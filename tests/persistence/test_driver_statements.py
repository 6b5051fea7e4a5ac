"""The hot paths' driver statements stay short enough for the driver to keep them prepared."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import asyncpg

import persistence
from persistence.calls import DRIVER_CACHEABLE_CHARS
from persistence.db import DriverStatement


def _driver_statements() -> dict[str, DriverStatement]:
    found = {}
    for module_info in pkgutil.iter_modules(persistence.__path__):
        module = importlib.import_module(f"persistence.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, DriverStatement):
                found[f"{module_info.name}.{name}"] = value
    return found


def test_the_limit_is_the_drivers_own() -> None:
    default = inspect.signature(asyncpg.connect).parameters["max_cacheable_statement_size"].default
    assert default == DRIVER_CACHEABLE_CHARS


def test_every_driver_statement_is_prepared_once_per_connection_not_per_execution() -> None:
    statements = _driver_statements()
    assert "calls._APPLY_FIRST_EVENT" in statements
    assert "calls._UPDATE_CALL" in statements
    too_long = {name: len(s.sql) for name, s in statements.items() if len(s.sql) > DRIVER_CACHEABLE_CHARS}
    assert too_long == {}
