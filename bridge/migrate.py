"""Applies the bridge's pending migrations, then its changed function files, in one
transaction under an advisory lock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
import psycopg

from bridge import contract
from bridge.capture import install as capture_install
from bridge.config import ConfigError
from bridge.db import fetch_all, fetch_one, fetch_values
from bridge.sql import function_files, migrations, query

LOCK_ATTEMPTS = 8
LOCK_BACKOFF_SECONDS = 0.5


async def missing_tables(conn: psycopg.AsyncConnection[Any], tables: Sequence[str]) -> list[str]:
    present = set(await fetch_values(conn, query("existing_tables"), {"names": list(tables)}))
    return [t for t in tables if t not in present]


async def migrate(
    conn: psycopg.AsyncConnection[Any],
    watched: Sequence[str],
    *,
    install_capture: bool = True,
    attempts: int = LOCK_ATTEMPTS,
) -> list[str]:
    """Apply what is pending; a second run applies nothing. Returns what was applied.

    The PMS must keep the schema contract (bridge/contract.py) and the role have the
    privileges the capture mode needs; otherwise nothing is changed and one line says why.
    A migration that must not queue the PMS behind it sets a lock timeout (090); a run that
    meets it is rolled back whole and tried again, and after `attempts` stops with one line."""
    missing = await missing_tables(conn, watched)
    if missing:
        raise ConfigError(
            f"PMS tables missing from the database: {', '.join(missing)} "
            "(is DATABASE_URL the PMS database, and BRIDGE_WATCHED_TABLES right?)"
        )
    report = await contract.check(conn, watched, "trigger" if install_capture else "logical")
    if not report.ok:
        raise ConfigError(report.line())
    attempt = 1
    while True:
        try:
            return await _migrate_once(conn, watched, install_capture)
        except psycopg.errors.LockNotAvailable as exc:
            if attempt == attempts:
                raise ConfigError(
                    f"PMS transactions held locks migrate needs through {attempts} attempts "
                    f"({exc.diag.message_primary}); nothing was changed: run migrate again"
                ) from None
            await asyncio.sleep(LOCK_BACKOFF_SECONDS * attempt)
            attempt += 1


async def _migrate_once(
    conn: psycopg.AsyncConnection[Any], watched: Sequence[str], install_capture: bool
) -> list[str]:
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute(query("migrate_lock"))
        await conn.execute(query("migrate_bookkeeping"))
        for step in await _pending(conn):
            await conn.execute(step.sql.encode())
            await conn.execute(query(step.record), step.params)
            applied.append(step.label)
        if install_capture:
            await capture_install.install(conn, watched)
    return applied


class _Step(NamedTuple):
    label: str
    sql: str
    record: str  # the query that records it as applied, with params
    params: dict[str, Any]


class _AppliedFunctions(msgspec.Struct, frozen=True):
    name: str
    digest: str


class _Bookkeeping(msgspec.Struct, frozen=True):
    """Whether the tables recording applied migrations and function files exist."""

    migrations: bool
    functions: bool


_SET_UP = _Bookkeeping(migrations=True, functions=True)


async def _pending(
    conn: psycopg.AsyncConnection[Any], bookkeeping: _Bookkeeping = _SET_UP
) -> list[_Step]:
    """What this version would apply, in order: each migration the database lacks, then each
    function file whose text differs from the one it last applied (after the migrations,
    whose tables the functions use)."""
    done: set[int] = set()
    if bookkeeping.migrations:
        done = set(await fetch_values(conn, query("migrate_applied")))
    digests: dict[str, str] = {}
    if bookkeeping.functions:
        applied = await fetch_all(conn, _AppliedFunctions, query("migrate_functions_applied"))
        digests = {row.name: row.digest for row in applied}
    steps = [
        _Step(m.label, m.sql, "migrate_record", {"version": m.version, "name": m.name})
        for m in migrations("bridge")
        if m.version not in done
    ]
    steps += [
        _Step(f.label, f.sql, "migrate_functions_record", {"name": f.name, "digest": f.digest})
        for f in function_files("bridge")
        if digests.get(f.name) != f.digest
    ]
    return steps


async def _bookkeeping(conn: psycopg.AsyncConnection[Any]) -> _Bookkeeping:
    found = await fetch_one(conn, _Bookkeeping, query("migrate_bookkeeping_exists"))
    return found or _Bookkeeping(False, False)


async def pending(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """What of this version the database has not applied yet: its migrations, and its function
    files as they are now (all of them when it was never migrated)."""
    return [step.label for step in await _pending(conn, await _bookkeeping(conn))]


async def require_migrated(conn: psycopg.AsyncConnection[Any]) -> None:
    """Serving on a database without this version's functions and tables fails call by call
    (a booking answered 500 because a function returns last version's shape): refuse to start
    instead, naming what is missing. Every command that reads the bridge's tables asks it."""
    bookkeeping = await _bookkeeping(conn)
    if not bookkeeping.migrations:
        raise ConfigError(
            "the database has no bridge schema (never migrated): run `pms-bridge migrate` first"
        )
    missing = [step.label for step in await _pending(conn, bookkeeping)]
    if missing:
        raise ConfigError(
            f"the database lacks bridge migrations {', '.join(missing)}: "
            "run `pms-bridge migrate` first"
        )


async def apply_pms_schema(conn: psycopg.AsyncConnection[Any]) -> None:
    """The demo PMS (sql/pms): only for the embedded database, never a real PMS."""
    async with conn.transaction():
        for migration in migrations("pms"):
            await conn.execute(migration.sql.encode())
