"""Sets up a demo PMS database: embedded cluster, PMS schema, seed data, migrations."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from bridge.config import ConfigError, Settings
from bridge.db import connect, fetch_value
from bridge.embedded import PostgresCluster
from bridge.migrate import apply_pms_schema, migrate, missing_tables
from bridge.sql import query


def start_embedded(data_dir: str | None) -> PostgresCluster:
    root = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="pms-bridge-demo-"))
    cluster = PostgresCluster(root / "pgdata")
    cluster.start()
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        exists = conn.execute(query("database_exists"), {"name": "pms"}).fetchone()
        if exists is None:
            conn.execute(query("create_database_pms"))
    return cluster


async def prepare_pms(
    url: str, settings: Settings, *, hotels: int, rooms_per_hotel: int, days: int = 365
) -> bool:
    """Create and seed the demo PMS when the database has none; returns True when it seeded."""
    async with await connect(url) as conn:
        seeded = False
        if await missing_tables(conn, ["hotels"]):
            await apply_pms_schema(conn)
            async with conn.transaction():
                await conn.execute(
                    query("seed_demo"), {"hotels": hotels, "rooms": rooms_per_hotel, "days": days}
                )
                await conn.execute(query("analyze_pms"))
            seeded = True
        else:
            if not await fetch_value(conn, query("demo_marker")):
                raise ConfigError(
                    "the demo writes made-up bookings: point DATABASE_URL at an empty database "
                    "(or unset it for the embedded one)"
                )
        # Logical capture needs no triggers (the bridge sets up its publication itself).
        await migrate(conn, settings.watched_tables, install_capture=settings.capture == "trigger")
    return seeded
