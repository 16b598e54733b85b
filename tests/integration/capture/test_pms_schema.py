"""sql/pms/ is the real PMS, column for column; the bridge's contract names only real columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from bridge.contract import CONTRACT
from tests.support.pms_manifest import TABLES, describe

MANIFEST = Path(__file__).resolve().parents[2] / "data" / "pms_manifest.json"
# The real hotels table also makes parking spots for a new hotel; parking is not reproduced.
NOT_REPRODUCED = {("hotels", "trigger_create_virtual_spots_for_new_hotel")}


def real() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    return manifest


def test_sql_pms_reproduces_the_real_tables_column_for_column(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        ours = describe(conn)
    expected = real()
    assert sorted(ours) == sorted(expected) == sorted(TABLES)
    for table, facts in expected.items():
        assert ours[table]["columns"] == facts["columns"], table
        assert ours[table]["partition_key"] == facts["partition_key"], table
        assert ours[table]["primary_key"] == facts["primary_key"], table
        # Compared without the ones not reproduced: on the real schema (the test suite's
        # PMS_BRIDGE_TEST_PMS_LOADER) they are there, on sql/pms/ they are not.
        assert reproduced(table, ours[table]["triggers"]) == reproduced(table, facts["triggers"]), (
            table
        )


def reproduced(table: str, triggers: list[str]) -> list[str]:
    return [t for t in triggers if (table, t) not in NOT_REPRODUCED]


def test_the_contract_names_only_columns_the_real_pms_has() -> None:
    expected = real()
    for table, contract in CONTRACT.items():
        columns = {c["name"]: c["type"] for c in expected[table]["columns"]}
        for column, kind in contract.columns.items():
            assert column in columns, f"{table}.{column} is not in the real PMS"
            # The contract holds base types: varchar(255) is a character varying.
            assert columns[column].split("(")[0] == kind, f"{table}.{column}"
