"""What a new user meets when something is not there yet: each is one line on stderr and a
non-zero exit, never a traceback or a process that hangs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from bridge.embedded import PostgresCluster, free_port

# A bound on a hang, not a measure: these commands fail within a second or two.
EXIT_TIMEOUT_S = 120


def pms_bridge(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        env={**base, "BRIDGE_JWT_SECRET": "j" * 32, **env},
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pms-bridge: error: ")
    return lines[0]


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_port_in_use_is_one_line_naming_it(command: str, occupied_port: int, db_url: str) -> None:
    # The demo's own database is embedded: it fails before starting it.
    env = {"DATABASE_URL": db_url} if command == "run" else {}
    result = pms_bridge(command, "--port", str(occupied_port), **env)
    line = one_error_line(result)
    assert result.returncode == 2
    assert f"127.0.0.1:{occupied_port} is in use" in line
    assert "API_PORT" in line and "--port" in line


# (`cache update` reports a Redis it cannot reach as the update's failure, recorded in the
# database, already in one line.)
@pytest.mark.parametrize("command", ["run", "snapshot"])
def test_an_unreachable_redis_is_one_line_naming_it(command: str, db_url: str) -> None:
    port = free_port()  # nothing listens there
    result = pms_bridge(
        command,
        DATABASE_URL=db_url,
        REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
        API_PORT=str(free_port()),
    )
    line = one_error_line(result)
    assert result.returncode == 2
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0: " in line
    assert "hunter2" not in line


def test_snapshot_without_redis_url_refuses_an_in_process_cache(db_url: str) -> None:
    line = one_error_line(pms_bridge("snapshot", DATABASE_URL=db_url))
    assert "REDIS_URL is not set" in line


@pytest.fixture
def empty_db_url(pg_cluster: PostgresCluster) -> str:
    name = f"empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return pg_cluster.url(name)


@pytest.mark.parametrize(
    "command", [("snapshot",), ("status",), ("keys", "create", "--hotel", "1")], ids=" ".join
)
def test_a_never_migrated_database_says_to_migrate(
    command: tuple[str, ...], empty_db_url: str, redis_url: str
) -> None:
    result = pms_bridge(*command, DATABASE_URL=empty_db_url, REDIS_URL=redis_url)
    line = one_error_line(result)
    assert result.returncode == 2
    assert line.endswith("never migrated): run `pms-bridge migrate` first")
    assert result.stdout == ""


def test_a_pms_user_that_does_not_exist_is_one_line_naming_the_setting(db_url: str) -> None:
    result = pms_bridge(
        "run", "--port", str(free_port()), DATABASE_URL=db_url, BRIDGE_PMS_USER_ID="987654"
    )
    line = one_error_line(result)
    assert "BRIDGE_PMS_USER_ID=987654" in line and "users.id" in line


def test_a_pms_user_id_out_of_range_is_one_line(db_url: str) -> None:
    result = pms_bridge("run", DATABASE_URL=db_url, BRIDGE_PMS_USER_ID="0")
    line = one_error_line(result)
    assert "BRIDGE_PMS_USER_ID=0" in line
