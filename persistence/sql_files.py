"""Statements kept in `persistence/sql/*.sql`, read once at import: their generated pieces filled in, compacted.

A hot-path statement too long to read as an f-string lives in its own file, each CTE's purpose in a
comment above it. Where a piece of it is a rule with its home elsewhere (a stage, a snapshot, an
SQLSTATE), the file says `{{ name }}` and the module loading it passes that SQL, generated from the
rule's home, as `load_sql(name, **pieces)`. What the driver is sent is compacted (comments and runs
of white space removed), so it stays under the driver's limit for prepared statements
(`tests/persistence/test_driver_statements.py`).

`python -m persistence.sql_files MODULE:ATTRIBUTE` prints a loaded driver statement as a psql PREPARE
(its parameters numbered in a comment), to run it, or EXPLAIN it, by itself.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from persistence.db import DriverStatement

SQL_DIR = Path(__file__).with_name("sql")
_PIECE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def read_sql(name: str) -> str:
    """The text of `persistence/sql/<name>.sql`, as written (comments and layout kept)."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def fill_fragments(sql: str, pieces: Mapping[str, str]) -> str:
    """`sql` with each `{{ piece }}` replaced by `pieces[piece]` (a piece may be used more than once).
    A placeholder without a piece, or a piece without a placeholder, is an error."""
    wanted = set(_PIECE.findall(sql))
    if wanted != set(pieces):
        raise ValueError(f"placeholders {sorted(wanted)} but pieces {sorted(pieces)} were given")
    return _PIECE.sub(lambda match: pieces[match.group(1)], sql)


def load_sql(name: str, **pieces: str) -> str:
    """The statement in `persistence/sql/<name>.sql`, its pieces filled in (`fill_fragments`), compacted."""
    try:
        # Comments are dropped first: they may name a placeholder.
        return compact(fill_fragments(compact(read_sql(name)), pieces))
    except ValueError as error:
        raise ValueError(f"{name}.sql: {error}") from None


def script_statements(sql: str) -> list[str]:
    """A script's statements, split at the `;` that ends a line outside a `$$` function body (a
    migration runs them one at a time: the driver prepares each statement)."""
    statements: list[str] = []
    current: list[str] = []
    in_body = False
    for line in sql.splitlines():
        code = line.split("--", 1)[0]
        current.append(line)
        if code.count("$$") % 2 == 1:
            in_body = not in_body
        if not in_body and code.rstrip().endswith(";"):
            statement = "\n".join(current).strip()
            if compact(statement):
                statements.append(statement.rstrip().rstrip(";"))
            current = []
    if compact("\n".join(current)):
        statements.append("\n".join(current).strip())
    return statements


def compact(sql: str) -> str:
    """`sql` without `--` comments and with each run of white space made one space; quoted text
    ('...' literals, "..." identifiers) is kept as it is."""
    out: list[str] = []
    space = False  # white space (or a comment) since the last thing kept
    index, length = 0, len(sql)
    while index < length:
        char = sql[index]
        if char.isspace() or sql.startswith("--", index):
            if char == "-":
                newline = sql.find("\n", index)
                index = length if newline < 0 else newline
            else:
                index += 1
            space = True
            continue
        if space and out:
            out.append(" ")
        space = False
        if char in "'\"":
            end = index + 1
            while end < length:
                if sql[end] == char:
                    # A doubled quote is the quote itself, inside the text.
                    if end + 1 < length and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[index : end + 1])
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def for_psql(statement: DriverStatement, name: str) -> str:
    """`statement` as a psql PREPARE named `name`, its parameters listed in order in a comment."""
    numbered = ", ".join(f"${number} = {param}" for number, param in enumerate(statement.parameters, 1))
    return f"-- {name}: {numbered}\nPREPARE {name} AS\n{statement.sql};\n"


def main(argv: list[str]) -> int:
    """`python -m persistence.sql_files persistence.leads:INGEST`: print that statement for psql."""
    if len(argv) != 1 or ":" not in argv[0]:
        sys.stderr.write("usage: python -m persistence.sql_files MODULE:ATTRIBUTE\n")
        return 2
    module_name, attribute = argv[0].split(":", 1)
    statement = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(statement, DriverStatement):
        sys.stderr.write(f"{argv[0]} is not a driver statement\n")
        return 2
    sys.stdout.write(for_psql(statement, attribute.strip("_").lower()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
