"""Applies the bridge's pending migrations in one transaction under an advisory lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from bridge.capture import install as capture_install
from bridge.config import ConfigError
from bridge.sql import Migration, migrations, query


async def missing_tables(conn: psycopg.AsyncConnection[Any], tables: Sequence[str]) -> list[str]:
    cur = await conn.execute(query("existing_tables"), {"names": list(tables)})
    present = {name for (name,) in await cur.fetchall()}
    return [t for t in tables if t not in present]


async def migrate(
    conn: psycopg.AsyncConnection[Any], watched: Sequence[str], *, install_capture: bool = True
) -> list[Migration]:
    """Apply what is pending; a second run applies nothing. Returns what was applied."""
    missing = await missing_tables(conn, watched)
    if missing:
        raise ConfigError(
            f"PMS tables missing from the database: {', '.join(missing)} "
            "(is DATABASE_URL the PMS database, and BRIDGE_WATCHED_TABLES right?)"
        )
    applied: list[Migration] = []
    async with conn.transaction():
        await conn.execute(query("migrate_lock"))
        await conn.execute(query("migrate_bookkeeping"))
        cur = await conn.execute(query("migrate_applied"))
        done = {version for (version,) in await cur.fetchall()}
        for migration in migrations("bridge"):
            if migration.version in done:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                query("migrate_record"), {"version": migration.version, "name": migration.name}
            )
            applied.append(migration)
        if install_capture:
            await capture_install.install(conn, watched)
    return applied


async def pending(conn: psycopg.AsyncConnection[Any]) -> list[Migration]:
    """The migrations of this version the database has not applied yet (all of them when it
    was never migrated)."""
    cur = await conn.execute(query("migrate_bookkeeping_exists"))
    row = await cur.fetchone()
    done: set[int] = set()
    if row is not None and row[0]:
        cur = await conn.execute(query("migrate_applied"))
        done = {version for (version,) in await cur.fetchall()}
    return [m for m in migrations("bridge") if m.version not in done]


async def require_migrated(conn: psycopg.AsyncConnection[Any]) -> None:
    """Serving on a database without this version's functions and tables fails call by call
    (a booking answered 500 because a function returns last version's shape): refuse to start
    instead, naming what is missing."""
    missing = await pending(conn)
    if missing:
        names = ", ".join(f"{m.version:03d}_{m.name}" for m in missing)
        raise ConfigError(
            f"the database lacks bridge migrations {names}: run `pms-bridge migrate` first"
        )


async def apply_pms_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """The demo PMS (sql/pms): only for the embedded database, never a real PMS."""
    async with conn.transaction():
        for migration in migrations("pms"):
            await conn.execute(migration.sql.encode())
