"""Fixtures of the fault suite: a Redis of the test's own, which a fault may kill, and a
PostgreSQL whose acknowledged commits survive its crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.embedded import PostgresCluster, RedisServer
from tests.conftest import TEMPLATE, build_template, clone_database


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def durable_cluster(tmp_path: Path) -> Iterator[PostgresCluster]:
    """Commits flushed before they are acknowledged (synchronous_commit on, unlike the other
    tests' clusters): a crash of the server, not of the machine, then loses nothing a writer
    saw committed, so the verdict can ask for every one of them."""
    cluster = PostgresCluster(tmp_path / "pg", settings={"fsync": "off"})
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
async def durable_db_url(durable_cluster: PostgresCluster) -> str:
    await build_template(durable_cluster.url(), durable_cluster.url(TEMPLATE), Settings())
    return clone_database(durable_cluster, TEMPLATE)
