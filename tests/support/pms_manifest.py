"""The shape of the PMS tables the project reproduces: columns (type, NOT NULL, default),
partition key, primary key and triggers, read from a live database.

    python -m tests.support.pms_manifest --dsn <uri> > tests/data/pms_manifest.json

run against a database loaded with the real PMS schema (../shared/tools/load_rht_schema.py)
writes the manifest that tests/integration/capture/test_pms_schema.py holds sql/pms/ to.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import psycopg
from psycopg.rows import dict_row

# Every table sql/pms/001_schema.sql creates: the ones the bridge reads or writes, the ones
# their keys reference, and the audit tables the PMS's own triggers write.
TABLES = (
    "users",
    "user_roles",
    "user_status",
    "hotels",
    "room_types",
    "rooms",
    "clients",
    "tax_info",
    "plan_type_categories",
    "plan_package_categories",
    "plans_global",
    "plans_hotel",
    "plans_rates",
    "addons_global",
    "addons_hotel",
    "reservations",
    "reservation_details",
    "reservation_addons",
    "reservation_rates",
    "reservation_clients",
    "hotel_plan_exclusions",
    "plan_addons",
    "payment_types",
    "reservation_payments",
    "logs_hotel",
    "logs_hotel_plans",
    "logs_hotel_addons",
    "logs_user",
    "logs_reservation",
    "logs_clients",
)

COLUMNS = """
SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = 's' THEN 'generated' END AS generated,
       pg_get_expr(d.adbin, d.adrelid) AS "default"
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relname = ANY(%(tables)s) AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"""

TABLE_FACTS = """
SELECT c.relname AS table_name,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       (SELECT array_agg(a.attname ORDER BY k.n)
        FROM pg_constraint p
        CROSS JOIN unnest(p.conkey) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE p.conrelid = c.oid AND p.contype = 'p') AS primary_key,
       coalesce((SELECT array_agg(t.tgname::text ORDER BY t.tgname)
                 FROM pg_trigger t
                 WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
                   AND t.tgname NOT LIKE 'pms_bridge%%'), '{}') AS triggers
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
WHERE c.relname = ANY(%(tables)s) AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def describe(conn: psycopg.Connection[Any], tables: tuple[str, ...] = TABLES) -> dict[str, Any]:
    """{table: {columns: [...], partition_key, primary_key, triggers}} of the tables present."""
    manifest: dict[str, Any] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(TABLE_FACTS, {"tables": list(tables)}):
            manifest[row["table_name"]] = {
                "partition_key": row["partition_key"],
                "primary_key": row["primary_key"],
                "triggers": row["triggers"],
                "columns": [],
            }
        for row in cur.execute(COLUMNS, {"tables": list(tables)}):
            table = manifest[row.pop("table_name")]
            if row["generated"] is None:
                del row["generated"]
            table["columns"].append(row)
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="a database with the real PMS schema")
    args = parser.parse_args()
    with psycopg.connect(args.dsn) as conn:
        json.dump(describe(conn), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
