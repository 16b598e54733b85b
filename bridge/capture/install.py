"""Installs and removes the capture triggers on the watched tables' partition roots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from bridge.sql import query


async def primary_keys(
    conn: psycopg.AsyncConnection[Any], tables: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    cur = await conn.execute(query("primary_keys"), {"tables": list(tables)})
    return {name: tuple(cols) for name, cols in await cur.fetchall()}


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
    cur = await conn.execute(query("capture_triggers"))
    return {table for table, trigger in await cur.fetchall() if trigger == "pms_bridge_capture"}
