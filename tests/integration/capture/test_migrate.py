"""`pms-bridge migrate`: applies what is pending once, and refuses a database without the PMS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bridge.config import DEFAULT_WATCHED, ConfigError
from bridge.embedded import PostgresCluster, free_port
from bridge.migrate import apply_pms_schema, migrate
from bridge.sql import function_files, migrations

ROOT = Path(__file__).resolve().parents[3]
_names = iter(range(1_000_000))


def create_database(cluster: PostgresCluster, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return cluster.url(name)


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--database-url", url, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def state(url: str) -> dict[str, Any]:
    """What migrate leaves behind: its bookkeeping and every capture trigger, clones included."""
    with psycopg.connect(url) as conn:
        versions = conn.execute(
            "SELECT version, name, applied_at FROM pms_bridge.schema_migrations ORDER BY version"
        ).fetchall()
        triggers = conn.execute(
            "SELECT c.relname, t.tgname, t.tgparentid = 0 AS on_root FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'pms_bridge_capture%%'"
            " ORDER BY 1, 2"
        ).fetchall()
        functions = conn.execute(
            "SELECT name, digest, applied_at FROM pms_bridge.schema_functions ORDER BY name"
        ).fetchall()
    return {"versions": versions, "triggers": triggers, "functions": functions}


async def test_migrate_twice_is_a_no_op(pg_cluster: PostgresCluster) -> None:
    url = create_database(pg_cluster, "migrate")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await apply_pms_schema(conn)

    first = cli(url, "migrate")
    assert first.returncode == 0, first.stderr
    for step in [*migrations("bridge"), *function_files("bridge")]:
        assert step.label in first.stdout
    after_first = state(url)
    assert [v for v, _, _ in after_first["versions"]] == [m.version for m in migrations("bridge")]
    # Emptied when their functions moved to sql/bridge/functions, and still recorded: the
    # version before knows these numbers, and must find them to serve or migrate this database.
    assert {70, 80, 120} <= {v for v, _, _ in after_first["versions"]}

    second = cli(url, "migrate")
    assert second.returncode == 0, second.stderr
    assert "nothing pending" in second.stdout
    assert state(url) == after_first

    # One row trigger and one truncate trigger per watched root, however often it ran.
    roots = [(table, name) for table, name, on_root in after_first["triggers"] if on_root]
    expected = sorted(
        (table, name)
        for table in DEFAULT_WATCHED
        for name in ("pms_bridge_capture", "pms_bridge_capture_truncate")
    )
    assert roots == expected


@pytest.mark.parametrize("present", [(), ("hotels", "clients")])
def test_migrate_without_pms_tables_stops_with_one_line(
    pg_cluster: PostgresCluster, present: tuple[str, ...]
) -> None:
    url = create_database(pg_cluster, "nopms")
    with psycopg.connect(url) as conn:
        for table in present:
            conn.execute(
                psycopg.sql.SQL("CREATE TABLE {} (id INT PRIMARY KEY)").format(
                    psycopg.sql.Identifier(table)
                )
            )

    result = cli(url, "migrate")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    missing = [t for t in DEFAULT_WATCHED if t not in present]
    assert "missing" in lines[0]
    listed = lines[0].rsplit(": ", 1)[1].split(" (")[0].split(", ")
    assert listed == missing
    with psycopg.connect(url) as conn:
        schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pms_bridge'").fetchone()
    assert schema is None, "a refused migrate must leave the database untouched"


def pms_triggers(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'pms_bridge%%' ORDER BY 1, 2"
        ).fetchall()
    return [(table, name) for table, name in rows]


def captured_after_a_write(url: str) -> tuple[int, int]:
    """Outbox rows and PMS audit-log rows a one-row reservation update leaves behind."""
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE pms_bridge.outbox")
        before = conn.execute("SELECT count(*) FROM logs_reservation").fetchone()
        conn.execute(
            "UPDATE reservations SET comment = clock_timestamp()::text"
            " WHERE (hotel_id, id) = (SELECT hotel_id, id FROM reservations LIMIT 1)"
        )
        conn.commit()
        outbox = conn.execute("SELECT count(*) FROM pms_bridge.outbox").fetchone()
        after = conn.execute("SELECT count(*) FROM logs_reservation").fetchone()
    assert outbox is not None and before is not None and after is not None
    return outbox[0], after[0] - before[0]


async def test_capture_remove_and_install_are_idempotent_beside_the_pms_triggers(
    db_url: str,
) -> None:
    pms_own = pms_triggers(db_url)
    assert ("reservations", "log_reservations_trigger") in pms_own
    installed = state(db_url)["triggers"]

    for _ in range(2):
        result = cli(db_url, "capture", "remove")
        assert result.returncode == 0, result.stderr
        assert "no tables" in result.stdout
        assert state(db_url)["triggers"] == []
        assert pms_triggers(db_url) == pms_own
    assert captured_after_a_write(db_url) == (0, 1)

    for _ in range(2):
        result = cli(db_url, "capture", "install")
        assert result.returncode == 0, result.stderr
        assert state(db_url)["triggers"] == installed
        assert pms_triggers(db_url) == pms_own
    # Captured once, and the PMS's own audit trigger still ran.
    assert captured_after_a_write(db_url) == (1, 1)


@pytest.mark.parametrize("migrated", ["never", "all but the last"])
async def test_run_on_an_unmigrated_database_stops_with_one_line(
    pg_cluster: PostgresCluster, migrated: str
) -> None:
    url = create_database(pg_cluster, "unmigrated")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await apply_pms_schema(conn)
    last = migrations("bridge")[-1]
    if migrated != "never":
        assert cli(url, "migrate").returncode == 0
        with psycopg.connect(url) as conn:
            conn.execute(
                "DELETE FROM pms_bridge.schema_migrations WHERE version = %s", (last.version,)
            )

    result = cli(url, "run", "--no-api")

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("run `pms-bridge migrate` first")
    if migrated == "never":
        # Not every migration by name: that it never was is what tells what to do.
        assert lines[0].startswith("pms-bridge: error: the database has no bridge schema ")
    else:
        assert lines[0].startswith("pms-bridge: error: the database lacks bridge migrations ")
        assert f"{last.version:03d}_{last.name}" in lines[0]
        assert "001_" not in lines[0]


async def test_a_changed_function_file_is_applied_again_and_run_waits_for_it(
    pg_cluster: PostgresCluster,
) -> None:
    """A database migrated before the function files existed (070, 080 and 120 made the
    booking functions then) or by a version with other function text: run refuses it naming
    the file, and migrate applies only that file, whole."""
    url = create_database(pg_cluster, "functions")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await apply_pms_schema(conn)
    assert cli(url, "migrate").returncode == 0
    files = {f.name: f.digest for f in function_files("bridge")}
    assert set(files) == {"booking", "delivery", "parked", "pricing"}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE pms_bridge.schema_functions")
        conn.execute(
            "CREATE OR REPLACE FUNCTION pms_bridge.api_rooms_left("
            "p_hotel_id INT, p_check_in DATE, p_check_out DATE) RETURNS json"
            " LANGUAGE sql AS $$ SELECT '[]'::json $$"
        )

    refused = cli(url, "run", "--no-api")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip() == (
        "pms-bridge: error: the database lacks bridge migrations functions/booking, "
        "functions/delivery, functions/parked, functions/pricing: run `pms-bridge migrate` first"
    )
    again = cli(url, "migrate")
    assert again.returncode == 0, again.stderr
    assert (
        "applied functions/booking, functions/delivery, functions/parked, functions/pricing;"
        in again.stdout
    )
    with psycopg.connect(url) as conn:
        body = conn.execute(
            "SELECT pg_get_functiondef('pms_bridge.api_rooms_left'::regproc)"
        ).fetchone()
        recorded = conn.execute(
            "SELECT name, digest FROM pms_bridge.schema_functions ORDER BY name"
        ).fetchall()
    assert body is not None and "sellable" in body[0]  # the file's body, not the stand-in
    assert recorded == sorted(files.items())
    assert "nothing pending" in cli(url, "migrate").stdout


def test_run_waits_for_its_database_then_refuses_it_unmigrated(tmp_path: Path) -> None:
    """Unreachable at start-up, the database is waited for (the API serves meanwhile); once it
    is up, one lacking the migrations still stops run with one line."""
    db_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{db_port}/postgres",
        API_PORT=str(api_port),
        BRIDGE_JWT_SECRET="t" * 40,
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--api-only"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cluster = PostgresCluster(tmp_path / "late", port=db_port)
    try:
        deadline = time.monotonic() + 60  # an upper bound on start-up, not a measurement
        while not live(api_port):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the API never came up"
            time.sleep(0.1)
        cluster.start()
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
        cluster.destroy()
    assert run.returncode == 2, stderr
    # Before it, the warnings of the wait; the error itself is one line, the last.
    errors = [line for line in stderr.splitlines() if line.startswith("pms-bridge: error: ")]
    assert errors == stderr.strip().splitlines()[-1:], stderr
    assert errors[0].startswith("pms-bridge: error: the database has no bridge schema")


def live(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


async def test_upgrading_past_090_never_aborts_a_pms_transaction(db_url: str) -> None:
    """090 locks hotels until migrate commits, and migrate waits for PMS writers meanwhile.
    A PMS transaction holding a reservation and then reading hotels, after migrate has waited
    past the first deadlock check, was the one PostgreSQL aborted; now migrate gives up
    its turn and tries again once the PMS committed."""
    (fk_drop,) = [m for m in migrations("bridge") if m.name == "audit_log_without_hotel_fk"]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as watcher:
        await watcher.execute(
            "DELETE FROM pms_bridge.schema_migrations WHERE version = %s", (fk_drop.version,)
        )
        await watcher.execute(
            "ALTER TABLE booking_engine_audit_log ADD FOREIGN KEY (hotel_id) REFERENCES hotels (id)"
        )
        async with (
            await psycopg.AsyncConnection.connect(db_url) as pms,
            await psycopg.AsyncConnection.connect(db_url) as migrator,
        ):
            await pms.execute(
                "UPDATE reservations SET agent = agent"
                " WHERE id = (SELECT id FROM reservations ORDER BY id LIMIT 1)"
            )
            upgrade = asyncio.create_task(migrate(migrator, DEFAULT_WATCHED))
            pid = migrator.info.backend_pid
            while True:  # until migrate waits for the PMS's lock
                cur = await watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)
                )
                if await cur.fetchone() != (0,):
                    break
                assert not upgrade.done(), upgrade
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.5)  # past deadlock_timeout (1 s): migrate's own check is done
            cur = await pms.execute("SELECT count(*) FROM hotels")
            assert (await cur.fetchone() or (0,))[0] > 0
            await pms.commit()
            applied = await upgrade
        assert applied == [fk_drop.label]
        cur = await watcher.execute(
            "SELECT count(*) FROM pg_constraint"
            " WHERE conrelid = 'booking_engine_audit_log'::regclass AND contype = 'f'"
        )
        assert await cur.fetchone() == (0,)


async def test_migrate_stops_with_one_line_when_the_pms_keeps_its_locks(db_url: str) -> None:
    (fk_drop,) = [m for m in migrations("bridge") if m.name == "audit_log_without_hotel_fk"]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as setup:
        await setup.execute(
            "DELETE FROM pms_bridge.schema_migrations WHERE version = %s", (fk_drop.version,)
        )
    async with (
        await psycopg.AsyncConnection.connect(db_url) as pms,
        await psycopg.AsyncConnection.connect(db_url) as migrator,
    ):
        await pms.execute("LOCK TABLE hotels IN ROW EXCLUSIVE MODE")
        with pytest.raises(ConfigError) as stopped:
            await migrate(migrator, DEFAULT_WATCHED, attempts=2)
        await pms.rollback()
    assert "through 2 attempts" in str(stopped.value)
    assert "run migrate again" in str(stopped.value)
    assert "\n" not in str(stopped.value)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pms_bridge.schema_migrations WHERE version = %s",
            (fk_drop.version,),
        )
        assert await cur.fetchone() == (0,)  # rolled back whole, nothing recorded
