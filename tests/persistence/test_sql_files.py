"""Statements kept in .sql files: compacted without touching quoted text, their pieces all filled in,
and printable for psql."""

from __future__ import annotations

import pytest

from persistence import sql_files
from persistence.leads import INGEST
from persistence.sql_files import compact, for_psql, load_sql


def test_compact_drops_comments_and_white_space_but_not_quoted_text() -> None:
    sql = """
    -- a comment naming {{ nothing }}
    SELECT 'a -- b',   "odd--name",
           'it''s  -- kept'  -- gone
    FROM t
    """
    assert compact(sql) == """SELECT 'a -- b', "odd--name", 'it''s  -- kept' FROM t"""


def test_a_placeholder_without_a_piece_or_a_piece_without_a_placeholder_fails_at_load(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(sql_files, "SQL_DIR", tmp_path)
    (tmp_path / "probe.sql").write_text("-- {{ in_a_comment }} is no placeholder\nSELECT {{ value }} AS v\n")
    assert load_sql("probe", value="1") == "SELECT 1 AS v"
    with pytest.raises(ValueError, match="placeholders"):
        load_sql("probe")
    with pytest.raises(ValueError, match="placeholders"):
        load_sql("probe", value="1", extra="2")


def test_the_intake_prints_as_a_prepare_with_its_parameters_numbered() -> None:
    printed = for_psql(INGEST, "lead_ingest")
    assert printed.startswith("-- lead_ingest: $1 = ")
    assert f"${len(INGEST.parameters)} = " in printed
    assert "PREPARE lead_ingest AS\nWITH hook AS (" in printed
    assert "{{" not in printed
    assert "--" not in printed.split("\n", 1)[1]
