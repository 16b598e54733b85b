"""The PMS schema contract: every PMS table and column the bridge reads or writes, and the
privileges it needs, checked against the live database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row

from bridge.sql import query

INT = "integer"
TEXT = "text"
VARCHAR = "character varying"
UUID = "uuid"
DATE = "date"
BOOL = "boolean"
NUMERIC = "numeric"
TIMESTAMP = "timestamp without time zone"
JSONB = "jsonb"


class TableContract(msgspec.Struct, frozen=True):
    """The columns the bridge relies on (by base type) and what it writes beyond reading."""

    columns: Mapping[str, str]
    writes: frozenset[str] = frozenset()


# The recompute queries, projectors, booking functions, catalog and delivery payloads read
# these; bookings write the tables with `writes`. A column absent from here is one the bridge
# never names, so the PMS may add, drop or change it freely.
CONTRACT: Mapping[str, TableContract] = {
    "hotels": TableContract(
        {
            "id": INT,
            "name": VARCHAR,
            "formal_name": VARCHAR,
            "facility_type": VARCHAR,
            "open_date": DATE,
            "total_rooms": INT,
            "postal_code": VARCHAR,
            "address": TEXT,
            "email": TEXT,
            "phone_number": VARCHAR,
            "latitude": NUMERIC,
            "longitude": NUMERIC,
            "sort_order": INT,
        }
    ),
    "room_types": TableContract({"hotel_id": INT, "id": INT, "name": TEXT, "description": TEXT}),
    "rooms": TableContract(
        {
            "hotel_id": INT,
            "id": INT,
            "room_type_id": INT,
            "room_number": TEXT,
            "capacity": INT,
            "for_sale": BOOL,
            "is_staff_room": BOOL,
            "assignment_priority": INT,
        }
    ),
    "clients": TableContract(
        {
            "id": UUID,
            "name": TEXT,
            "name_kana": TEXT,
            "name_kanji": TEXT,
            "legal_or_natural_person": TEXT,
            "gender": TEXT,
            "email": TEXT,
            "phone": TEXT,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "UPDATE"}),
    ),
    "reservations": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_client_id": UUID,
            "check_in": DATE,
            "check_out": DATE,
            "number_of_people": INT,
            "status": TEXT,
            "type": TEXT,
            "agent": TEXT,
            "ota_reservation_id": TEXT,
            "payment_timing": TEXT,
            "comment": TEXT,
            "created_at": TIMESTAMP,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "UPDATE"}),
    ),
    "reservation_details": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_id": UUID,
            "date": DATE,
            "room_id": INT,
            "plans_global_id": INT,
            "plans_hotel_id": INT,
            "plan_name": TEXT,
            "plan_type": TEXT,
            "number_of_people": INT,
            "price": NUMERIC,
            "cancelled": UUID,
            "billable": BOOL,
            "is_accommodation": BOOL,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "UPDATE", "DELETE"}),
    ),
    "reservation_rates": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_details_id": UUID,
            "adjustment_type": TEXT,
            "adjustment_value": NUMERIC,
            "include_in_cancel_fee": BOOL,
            "tax_type_id": INT,
            "tax_rate": NUMERIC,
            "price": NUMERIC,
            "sales_category": TEXT,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "DELETE"}),
    ),
    "reservation_clients": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_details_id": UUID,
            "client_id": UUID,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "DELETE"}),
    ),
    "reservation_addons": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_detail_id": UUID,
            "addons_global_id": INT,
            "addons_hotel_id": INT,
            "addon_name": TEXT,
            "addon_type": TEXT,
            "quantity": INT,
            "price": NUMERIC,
            "tax_type_id": INT,
            "tax_rate": NUMERIC,
            "sales_category": TEXT,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT", "DELETE"}),
    ),
    "reservation_payments": TableContract(
        {
            "hotel_id": INT,
            "id": UUID,
            "reservation_id": UUID,
            "date": DATE,
            "room_id": INT,
            "client_id": UUID,
            "payment_type_id": INT,
            "value": NUMERIC,
            "comment": TEXT,
            "created_by": INT,
            "updated_by": INT,
        },
        writes=frozenset({"INSERT"}),
    ),
    "payment_types": TableContract({"id": INT, "name": TEXT, "transaction": TEXT}),
    # The PMS's own audit log of reservation rows: reconciliation asks it whether a
    # reservation the bridge has no record of changed after the bridge came.
    "logs_reservation": TableContract(
        {"log_time": TIMESTAMP, "table_name": TEXT, "record_id": UUID, "changes": JSONB}
    ),
    "plan_addons": TableContract(
        {
            "hotel_id": INT,
            "plans_global_id": INT,
            "plans_hotel_id": INT,
            "addons_global_id": INT,
            "addons_hotel_id": INT,
            "addon_type": TEXT,
            "price": NUMERIC,
            "tax_type_id": INT,
            "tax_rate": NUMERIC,
            "sales_category": TEXT,
        }
    ),
    "addons_global": TableContract({"id": INT, "name": TEXT}),
    "addons_hotel": TableContract({"hotel_id": INT, "id": INT, "name": TEXT}),
    "tax_info": TableContract({"id": INT}),
    "users": TableContract({"id": INT}),
    "plans_global": TableContract({"id": INT, "name": TEXT, "plan_type": TEXT}),
    "hotel_plan_exclusions": TableContract({"hotel_id": INT, "global_plan_id": INT}),
    "plans_hotel": TableContract(
        {
            "hotel_id": INT,
            "id": INT,
            "plans_global_id": INT,
            "name": TEXT,
            "plan_type": TEXT,
            "display_order": INT,
            "is_active": BOOL,
            "available_from": DATE,
            "available_until": DATE,
        }
    ),
    "plans_rates": TableContract(
        {
            "id": INT,
            "hotel_id": INT,
            "plans_global_id": INT,
            "plans_hotel_id": INT,
            "adjustment_type": TEXT,
            "adjustment_value": NUMERIC,
            "condition_type": TEXT,
            "condition_value": TEXT,
            "date_start": DATE,
            "date_end": DATE,
            "tax_type_id": INT,
            "tax_rate": NUMERIC,
            "include_in_cancel_fee": BOOL,
            "sales_category": TEXT,
        }
    ),
}


class Report(msgspec.Struct, frozen=True):
    """What does not fit: empty lists mean the database keeps the contract."""

    role: str
    schema: list[str]
    privileges: list[str]
    grants: list[str]

    @property
    def ok(self) -> bool:
        return not self.schema and not self.privileges

    def line(self) -> str:
        """One line that says what is wrong and what to run."""
        parts: list[str] = []
        if self.schema:
            parts.append("the PMS schema does not fit the bridge: " + "; ".join(self.schema))
        if self.privileges:
            parts.append(f"role {self.role} lacks: " + "; ".join(self.privileges))
        if self.grants:
            parts.append("run as the tables' owner: " + " ".join(self.grants))
        return " | ".join(parts)


def schema_problems(live: Mapping[str, Mapping[str, str]], watched: Iterable[str]) -> list[str]:
    """The contract's tables and columns, and the watched tables, against the live ones."""
    problems: list[str] = []
    for table in sorted({*CONTRACT, *watched}):
        columns = live.get(table)
        if columns is None:
            problems.append(f"table {table} is missing")
            continue
        expected = CONTRACT[table].columns if table in CONTRACT else {}
        for column, kind in expected.items():
            found = columns.get(column)
            if found is None:
                problems.append(f"{table}.{column} is missing")
            elif found != kind:
                problems.append(f"{table}.{column} is {found}, not {kind}")
    return problems


def privilege_problems(
    rows: Sequence[Mapping[str, Any]],
    role: Mapping[str, Any],
    capture: str,
    api: bool,
    watched: Sequence[str],
) -> tuple[list[str], list[str]]:
    """Missing privileges, and the GRANT (or ALTER) statements that give them: SELECT on
    every table, what bookings write, and what capture needs on the watched tables only."""
    if role["superuser"]:
        return [], []
    name = role["role"]
    problems: list[str] = []
    grants: list[str] = []
    for row in sorted(rows, key=lambda r: str(r["table_name"])):
        table = row["table_name"]
        needed = {"SELECT"}
        if api and table in CONTRACT:
            needed |= CONTRACT[table].writes
        captured = table in watched
        if capture == "trigger" and captured:
            needed.add("TRIGGER")
        lacking = sorted(p for p in needed if not row[f"can_{p.lower()}"])
        if lacking:
            problems.append(f"{', '.join(lacking)} on {table}")
            grants.append(f"GRANT {', '.join(lacking)} ON {table} TO {name};")
        if capture == "logical" and captured and not row["owns"]:
            problems.append(f"ownership of {table} (a publication needs it)")
            grants.append(f"ALTER TABLE {table} OWNER TO {name};")
    if capture == "logical" and not role["replication"]:
        problems.append("the REPLICATION attribute")
        grants.append(f"ALTER ROLE {name} REPLICATION;")
    return problems, grants


async def check(
    conn: psycopg.AsyncConnection[Any], watched: Sequence[str], capture: str, *, api: bool = True
) -> Report:
    """The live database against the contract, for the capture mode in use; `api` adds the
    privileges bookings write with."""
    tables = sorted({*CONTRACT, *watched})
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("contract_columns"), {"tables": tables})
        live: dict[str, dict[str, str]] = {}
        for row in await cur.fetchall():
            live.setdefault(row["table_name"], {})[row["column_name"]] = row["type"]
        await cur.execute(query("contract_privileges"), {"tables": tables})
        privileges = await cur.fetchall()
        await cur.execute(query("contract_role"))
        role = await cur.fetchone()
    assert role is not None
    lacking, grants = privilege_problems(privileges, role, capture, api, watched)
    return Report(role["role"], schema_problems(live, watched), lacking, grants)
