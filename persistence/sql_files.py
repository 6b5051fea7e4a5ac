"""The SQL kept in `persistence/sql/*.sql`: read at import, compacted for the driver, split into statements."""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


def read_sql(name: str) -> str:
    """The text of `persistence/sql/<name>.sql`, as written (comments and layout kept)."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def compact_sql(sql: str) -> str:
    """`sql` without its comments and runs of whitespace, so a statement stays under the driver's
    cacheable size (`persistence.calls.DRIVER_CACHEABLE_CHARS`). None of our files has `--` or a run
    of spaces inside a literal."""
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return " ".join(" ".join(lines).split())


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
            if compact_sql(statement):
                statements.append(statement.rstrip().rstrip(";"))
            current = []
    if compact_sql("\n".join(current)):
        statements.append("\n".join(current).strip())
    return statements


def fill_fragments(sql: str, fragments: dict[str, str]) -> str:
    """`sql` with each `{{name}}` replaced by `fragments[name]`; every name must be given, and used."""
    for name, fragment in fragments.items():
        marker = "{{" + name + "}}"
        if marker not in sql:
            raise ValueError(f"fragment {name} is not used")
        sql = sql.replace(marker, fragment)
    if "{{" in sql:
        raise ValueError(f"fragment not given: {sql[sql.index('{{') :][:60]}")
    return sql
