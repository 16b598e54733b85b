"""Installs and removes the capture triggers on the watched tables' partition roots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from bridge.db import fetch_all
from bridge.sql import query


class _PrimaryKey(msgspec.Struct, frozen=True):
    table_name: str
    columns: list[str]


class _Trigger(msgspec.Struct, frozen=True):
    table_name: str
    trigger_name: str


async def primary_keys(
    conn: psycopg.AsyncConnection[Any], tables: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    rows = await fetch_all(conn, _PrimaryKey, query("primary_keys"), {"tables": list(tables)})
    return {row.table_name: tuple(row.columns) for row in rows}


async def _each_table(
    conn: psycopg.AsyncConnection[Any], tables: Sequence[str], *names: str
) -> None:
    for table in tables:
        for name in names:
            statement = sql.SQL(query(name)).format(
                table=sql.Identifier(table), name=sql.Literal(table)
            )
            await conn.execute(statement)


async def install(conn: psycopg.AsyncConnection[Any], tables: Sequence[str]) -> None:
    """Idempotent: CREATE OR REPLACE on the roots; PostgreSQL clones them to every partition.
    Tables dropped from the watched set lose their triggers, so capture matches the setting."""
    unwatched = sorted(await installed(conn) - set(tables))
    await _each_table(conn, unwatched, "capture_remove_row", "capture_remove_truncate")
    await _each_table(conn, tables, "capture_install_row", "capture_install_truncate")


async def remove(conn: psycopg.AsyncConnection[Any], tables: Sequence[str]) -> None:
    await _each_table(conn, tables, "capture_remove_row", "capture_remove_truncate")


async def installed(conn: psycopg.AsyncConnection[Any]) -> set[str]:
    rows = await fetch_all(conn, _Trigger, query("capture_triggers"))
    return {row.table_name for row in rows if row.trigger_name == "pms_bridge_capture"}
