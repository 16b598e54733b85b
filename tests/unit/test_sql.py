"""The .sql loader: named query blocks, unique names, numbered migrations in order."""

from __future__ import annotations

import pytest

from bridge.sql import migrations, parse_queries, queries, query, sql_root


def test_blocks_are_split_on_name_lines_and_stripped_of_comment_lines() -> None:
    text = (
        "-- name: first\n-- why it exists\nSELECT 1, -- one\n  -- and two\n  2;\n\n"
        "-- name: second\nSELECT %(x)s;\n"
    )
    assert parse_queries(text, "t.sql") == {
        "first": "SELECT 1, -- one\n  2;",
        "second": "SELECT %(x)s;",
    }


def test_every_shipped_query_is_short_enough_for_psycopg_to_cache_its_parsing() -> None:
    # psycopg keeps the parsing of statements up to MAX_CACHED_STATEMENT_LENGTH (4096) bytes.
    long = {name for name, body in queries().items() if len(body.encode()) > 4096}
    assert long == set()


def test_a_name_defined_twice_in_one_file_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'twice' is defined twice in t\.sql"):
        parse_queries("-- name: twice\nSELECT 1;\n-- name: twice\nSELECT 2;\n", "t.sql")


def test_every_shipped_query_loads_and_is_not_empty() -> None:
    loaded = queries()
    assert {"outbox_fetch", "outbox_claim", "checkpoint_save", "availability_recompute"} <= set(
        loaded
    )
    assert all(body.strip() for body in loaded.values())
    assert query("outbox_claim") == loaded["outbox_claim"]


def test_an_unknown_query_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        query("no_such_query_anywhere")


def test_migrations_are_numbered_uniquely_and_in_order() -> None:
    for folder in ("bridge", "pms"):
        found = migrations(folder)
        versions = [m.version for m in found]
        assert versions == sorted(set(versions))
        assert all(m.sql.strip() for m in found)
    bridge = migrations("bridge")
    assert bridge[0].version == 1 and bridge[0].name == "bridge_schema"
    files = sorted(p.name for p in (sql_root() / "bridge").glob("*.sql"))
    assert [f"{m.version:03d}_{m.name}.sql" for m in bridge] == files
