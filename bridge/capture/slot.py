"""The logical capture's server side: checks, publication, replica identity, slot, lag, drop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from bridge import checkpoint
from bridge.capture.pgoutput import format_lsn, parse_lsn
from bridge.config import ConfigError, Settings
from bridge.db import connect, fetch_one, fetch_value, fetch_values
from bridge.sql import query

# Tables whose old rows the projectors read (docs/logical-replication.md, sql/bridge/030).
FULL_IDENTITY_TABLES = ("reservation_details", "rooms", "room_types", "reservations")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LogicalSetupError(ConfigError):
    """The server or role cannot serve logical capture; one line says how to fix it."""


class SlotCreated(msgspec.Struct, frozen=True):
    name: str
    consistent_point: int
    snapshot: str | None


class SlotLag(msgspec.Struct, frozen=True):
    behind_bytes: int
    retained_bytes: int
    active: bool
    wal_status: str | None = None


class _Server(msgspec.Struct, frozen=True):
    wal_level: str
    can_replicate: bool
    role: str
    server_version: int


class _Publication(msgspec.Struct, frozen=True):
    pubviaroot: bool


class _SlotInfo(msgspec.Struct, frozen=True):
    plugin: str
    database: str
    active: bool
    active_pid: int | None
    confirmed_flush_lsn: str | None


class _CreatedSlot(msgspec.Struct, frozen=True):
    """CREATE_REPLICATION_SLOT's answer."""

    slot_name: str
    consistent_point: str
    snapshot_name: str | None
    output_plugin: str


class _SlotLagRow(msgspec.Struct, frozen=True):
    behind: int | None
    retained: int | None
    active: bool
    wal_status: str | None


class SlotHealth(msgspec.Struct, frozen=True):
    """A slot as pg_replication_slots shows it; the PostgreSQL 17+ columns are None before."""

    plugin: str
    database: str
    active: bool
    wal_status: str | None
    invalidation_reason: str | None
    conflicting: bool | None
    failover: bool | None

    @property
    def lost(self) -> bool:
        """The slot can never stream again: the WAL or catalog rows it needs are gone."""
        return (
            self.wal_status == "lost"
            or self.invalidation_reason is not None
            or self.conflicting is True
        )

    def why(self) -> str:
        if self.invalidation_reason is not None:
            return f"invalidated ({self.invalidation_reason})"
        if self.conflicting:
            return "invalidated (conflicting with recovery)"
        return "invalidated (wal_status lost: the WAL it needed was removed)"


class SlotLost(psycopg.OperationalError):
    """The slot is gone or can no longer stream; opening the source again re-creates it."""


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise LogicalSetupError(
            f"{kind} name {name!r} must be lower-case letters, digits and _ (at most 63)"
        )
    return name


async def check_server(conn: psycopg.AsyncConnection[Any]) -> int:
    """Refuse to start unless wal_level is logical and the role may replicate; the version."""
    server = await fetch_one(conn, _Server, query("logical_server_check"))
    if server is None:
        raise LogicalSetupError("cannot read the current role from pg_roles")
    if server.wal_level != "logical":
        raise LogicalSetupError(
            f"wal_level is {server.wal_level}, logical capture needs logical: run "
            "ALTER SYSTEM SET wal_level = logical and restart PostgreSQL "
            "(or use BRIDGE_CAPTURE=trigger)"
        )
    role = server.role
    if not server.can_replicate:
        raise LogicalSetupError(
            f"role {role} lacks REPLICATION: run ALTER ROLE {role} REPLICATION as a superuser "
            "(or use BRIDGE_CAPTURE=trigger)"
        )
    version = server.server_version
    if version < 140000:
        raise LogicalSetupError(
            f"PostgreSQL {version // 10000} is too old for logical capture (14 or later needed)"
        )
    return int(version)


def _tables(tables: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(t) for t in sorted(tables))


async def ensure_publication(
    conn: psycopg.AsyncConnection[Any], publication: str, tables: Sequence[str]
) -> None:
    """Create the publication, or bring an existing one to exactly the watched tables."""
    check_name("publication", publication)
    ident = sql.Identifier(publication)
    params = {"publication": publication}
    found = await fetch_one(conn, _Publication, query("logical_publication_exists"), params)
    if found is None:
        statement = sql.SQL(query("logical_publication_create"))
        await conn.execute(statement.format(publication=ident, tables=_tables(tables)))
        return
    if not found.pubviaroot:
        await conn.execute(sql.SQL(query("logical_publication_via_root")).format(publication=ident))
    if set(await fetch_values(conn, query("logical_publication_tables"), params)) != set(tables):
        statement = sql.SQL(query("logical_publication_set_tables"))
        await conn.execute(statement.format(publication=ident, tables=_tables(tables)))


async def identity_missing(conn: psycopg.AsyncConnection[Any], tables: Sequence[str]) -> list[str]:
    wanted = [t for t in FULL_IDENTITY_TABLES if t in tables]
    return await fetch_values(conn, query("logical_identity_missing"), {"tables": wanted})


async def ensure_replica_identity(
    conn: psycopg.AsyncConnection[Any], tables: Sequence[str], *, attempts: int = 5
) -> list[str]:
    """REPLICA IDENTITY FULL where the projectors need old rows, partitions included.

    One table per transaction (`conn` is in autocommit); a table that stays locked past the
    function's lock_timeout is tried again, and after `attempts` the OperationalError goes
    up: the bridge retries its start with backoff rather than block the PMS.
    """
    changed: list[str] = []
    for relation in await identity_missing(conn, tables):
        for attempt in range(attempts):
            try:
                await conn.execute(query("logical_identity_full"), {"relation": relation})
                break
            except psycopg.errors.InsufficientPrivilege:
                raise LogicalSetupError(
                    f"{relation} needs REPLICA IDENTITY FULL and this role does not own it: "
                    "run `pms-bridge --capture logical migrate` as the tables' owner"
                ) from None
            except psycopg.errors.LockNotAvailable:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        changed.append(relation)
    return changed


async def prepare(
    conn: psycopg.AsyncConnection[Any], publication: str, tables: Sequence[str]
) -> int:
    """Everything on the normal connection a slot needs; idempotent. Returns the server version."""
    version = await check_server(conn)
    await ensure_publication(conn, publication, tables)
    await ensure_replica_identity(conn, tables)
    return version


async def replication_connection(url: str) -> psycopg.AsyncConnection[Any]:
    try:
        return await connect(url, autocommit=True, replication="database")
    except psycopg.OperationalError as exc:
        if "pg_hba.conf" in str(exc):
            raise LogicalSetupError(
                "the server refuses replication connections from here: add a "
                "`host replication <role> <address> scram-sha-256` line to pg_hba.conf "
                "and reload PostgreSQL"
            ) from None
        raise


async def slot_exists(conn: psycopg.AsyncConnection[Any], slot: str) -> bool:
    info = await fetch_one(conn, _SlotInfo, query("logical_slot_info"), {"slot": slot})
    if info is None:
        return False
    _check_owner(conn, slot, info.plugin, info.database)
    return True


async def slot_health(
    conn: psycopg.AsyncConnection[Any], slot: str, version: int
) -> SlotHealth | None:
    """The slot's state, or None when there is none; refuses another database's slot."""
    name = "logical_slot_health_17" if version >= 170000 else "logical_slot_health"
    health = await fetch_one(conn, SlotHealth, query(name), {"slot": slot})
    if health is None:
        return None
    _check_owner(conn, slot, health.plugin, health.database)
    return health


def _check_owner(conn: psycopg.AsyncConnection[Any], slot: str, plugin: str, database: str) -> None:
    if database != conn.info.dbname:
        raise LogicalSetupError(
            f"replication slot {slot} belongs to database {database}: "
            "set BRIDGE_SLOT to a name of this database's own"
        )
    if plugin != "pgoutput":
        raise LogicalSetupError(
            f"replication slot {slot} uses {plugin}, not pgoutput: "
            f"drop it (`pms-bridge slot drop`) or set BRIDGE_SLOT to another name"
        )


def check_failover(failover: bool, version: int) -> None:
    if failover and version < 170000:
        raise LogicalSetupError(
            f"BRIDGE_SLOT_FAILOVER=true needs PostgreSQL 17 or later (this server is "
            f"{version // 10000}): unset it, and rely on reconciliation after a failover"
        )


async def create_slot(
    repl: psycopg.AsyncConnection[Any],
    slot: str,
    version: int,
    *,
    export_snapshot: bool = True,
    failover: bool = False,
) -> SlotCreated:
    """CREATE_REPLICATION_SLOT on the replication connection, exporting its snapshot.

    The snapshot stays importable only until the next command on `repl`, so the caller
    imports it before it starts streaming. `failover` (PostgreSQL 17+) makes a slot the
    standbys synchronize.
    """
    ident = sql.Identifier(check_name("slot", slot))
    check_failover(failover, version)
    if version >= 150000:
        mode = "export" if export_snapshot else "nothing"
        options: list[sql.Composable] = [sql.SQL("SNAPSHOT {}").format(sql.Literal(mode))]
        if failover:
            options.append(sql.SQL("FAILOVER true"))
        statement = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput ({})").format(
            ident, sql.SQL(", ").join(options)
        )
    else:
        option = "EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT"
        statement = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput {}").format(
            ident, sql.SQL(option)
        )
    try:
        row = await fetch_one(repl, _CreatedSlot, statement)
    except psycopg.errors.ConfigurationLimitExceeded:
        raise LogicalSetupError(
            "every replication slot is in use: raise max_replication_slots (a restart) or "
            "drop an unused slot"
        ) from None
    if row is None:
        raise RuntimeError("CREATE_REPLICATION_SLOT returned no row")
    return SlotCreated(row.slot_name, parse_lsn(row.consistent_point), row.snapshot_name)


async def set_failover(repl: psycopg.AsyncConnection[Any], slot: str) -> None:
    """A slot made before BRIDGE_SLOT_FAILOVER was set becomes one the standbys synchronize."""
    ident = sql.Identifier(check_name("slot", slot))
    await repl.execute(sql.SQL("ALTER_REPLICATION_SLOT {} (FAILOVER true)").format(ident))


async def import_snapshot(conn: psycopg.AsyncConnection[Any], snapshot: str) -> None:
    """Inside a fresh REPEATABLE READ transaction: see exactly what the slot's start saw."""
    statement = sql.SQL(query("logical_snapshot_import")).format(snapshot=sql.Literal(snapshot))
    await conn.execute(statement)


async def slot_lag(conn: psycopg.AsyncConnection[Any], slot: str) -> SlotLag | None:
    row = await fetch_one(conn, _SlotLagRow, query("logical_slot_lag"), {"slot": slot})
    if row is None:
        return None
    return SlotLag(
        max(int(row.behind or 0), 0),
        max(int(row.retained or 0), 0),
        bool(row.active),
        row.wal_status,
    )


async def left_in_place(
    conn: psycopg.AsyncConnection[Any], slot: str, publication: str
) -> list[str]:
    """The logical capture's slot and publication in this database, when they exist: what
    trigger capture leaves behind unless asked to drop them."""
    found: list[str] = []
    info = await fetch_one(conn, _SlotInfo, query("logical_slot_info"), {"slot": slot})
    if info is not None and info.database == conn.info.dbname:
        found.append(f"slot {slot}")
    params = {"publication": publication}
    if await fetch_one(conn, _Publication, query("logical_publication_exists"), params) is not None:
        found.append(f"publication {publication}")
    return found


class Dropped(msgspec.Struct, frozen=True):
    slot: bool
    publication: bool


async def drop(url: str, slot: str, publication: str) -> Dropped:
    """Remove the slot (refusing while a consumer streams from it) and the publication."""
    check_name("slot", slot)
    check_name("publication", publication)
    async with await connect(url, autocommit=True) as conn:
        info = await fetch_one(conn, _SlotInfo, query("logical_slot_info"), {"slot": slot})
        slot_dropped = False
        if info is not None:
            if info.active:
                raise LogicalSetupError(
                    f"slot {slot} is in use by process {info.active_pid}: stop the bridge, "
                    "then drop it"
                )
            await conn.execute(query("logical_slot_drop"), {"slot": slot})
            slot_dropped = True
        params = {"publication": publication}
        found = await fetch_one(conn, _Publication, query("logical_publication_exists"), params)
        publication_dropped = found is not None
        statement = sql.SQL(query("logical_publication_drop"))
        await conn.execute(statement.format(publication=sql.Identifier(publication)))
    return Dropped(slot_dropped, publication_dropped)


class SlotStatus(msgspec.Struct, frozen=True):
    """The slot's figures for `pms-bridge status`: what waits in WAL, and the lines to print."""

    behind_bytes: int
    seconds: float
    lines: dict[str, str]


async def slot_status(
    conn: psycopg.AsyncConnection[Any], settings: Settings, consumer: str
) -> SlotStatus:
    """Lag in bytes and seconds, retained WAL and the warning, as `pms-bridge status` shows."""
    lag = await slot_lag(conn, settings.slot_name)
    if lag is None:
        lines = {"slot": f"{settings.slot_name} (not created yet: the bridge creates it on start)"}
        return SlotStatus(0, 0.0, lines)
    seconds = 0.0
    if lag.behind_bytes:
        params = {"consumer": consumer}
        found = await fetch_value(conn, query("logical_status_seconds"), params)
        seconds = float(found) if found is not None else 0.0
    saved = await checkpoint.load(conn, consumer)
    lines = {
        "slot": f"{settings.slot_name} ({'streaming' if lag.active else 'inactive'})",
        "slot lsn": format_lsn(saved.position) if saved else "-",
        "slot lag": f"{lag.behind_bytes} bytes, {seconds:.1f} s",
        "wal retained": f"{lag.retained_bytes} bytes",
    }
    if lag.behind_bytes >= settings.slot_lag_warn_bytes:
        lines["warning"] = (
            f"slot lag above BRIDGE_SLOT_LAG_WARN_BYTES={settings.slot_lag_warn_bytes}"
        )
    return SlotStatus(lag.behind_bytes, seconds, lines)
