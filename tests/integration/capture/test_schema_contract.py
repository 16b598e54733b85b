"""The PMS schema contract: checked by migrate and run, and watched while running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import msgspec
import psycopg

from bridge import contract
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.demo.verify import compare
from bridge.service import horizon
from metrics.definitions import REGISTRY
from tests.support.api_server import create_key, running_api
from tests.support.writers import Writers

ROOT = Path(__file__).resolve().parents[3]


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


def execute(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode())


def test_migrate_names_a_missing_and_a_retyped_column_in_one_line(db_url: str) -> None:
    execute(db_url, "ALTER TABLE reservation_details RENAME COLUMN cancelled TO cancelled_at")
    execute(db_url, "ALTER TABLE rooms ALTER COLUMN for_sale TYPE text")

    result = cli(db_url, "migrate")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "reservation_details.cancelled is missing" in lines[0]
    assert "rooms.for_sale is text, not boolean" in lines[0]


def test_migrate_lists_the_missing_privileges_and_the_grants_that_give_them(db_url: str) -> None:
    role = f"bridge_{uuid.uuid4().hex[:8]}"
    execute(db_url, f"CREATE ROLE {role} LOGIN; GRANT SELECT ON hotels, rooms TO {role}")
    limited = db_url.replace("postgres@", f"{role}@", 1)

    result = cli(limited, "migrate")

    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert f"role {role} lacks:" in line
    assert "INSERT, SELECT, TRIGGER, UPDATE on reservations" in line
    assert "SELECT, TRIGGER on room_types" in line
    grants = line.split("run as the tables' owner: ", 1)[1].split("; ")
    for grant in grants:
        execute(db_url, grant.rstrip(";") + ";")

    async def check() -> contract.Report:
        async with await psycopg.AsyncConnection.connect(limited) as conn:
            return await contract.check(conn, Settings().watched_tables, "trigger")

    report = asyncio.run(check())
    assert report.ok, report.line()


def readme_table_grants(role: str) -> list[str]:
    """The README's GRANTs on tables for trigger capture, given to `role`."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    block = readme.split("For trigger capture", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    code = "\n".join(line.split("--", 1)[0] for line in block.splitlines())
    statements = [" ".join(part.split()) for part in code.split(";")]
    return [
        s.replace("TO pms_bridge", f"TO {role}") + ";"
        for s in statements
        if s.startswith("GRANT") and " ON DATABASE " not in s and " ON SCHEMA " not in s
    ]


async def test_the_readmes_grants_are_what_trigger_capture_and_bookings_need(
    db_url: str,
) -> None:
    role = f"bridge_{uuid.uuid4().hex[:8]}"
    grants = readme_table_grants(role)
    assert any("reservation_rates" in g for g in grants)
    execute(db_url, f"CREATE ROLE {role} LOGIN; " + " ".join(grants))
    async with await psycopg.AsyncConnection.connect(
        db_url.replace("postgres@", f"{role}@", 1)
    ) as conn:
        report = await contract.check(conn, Settings().watched_tables, "trigger")
    # Capture needs TRIGGER on the watched tables only, not on what bookings merely read.
    assert report.privileges == [], report.line()


async def test_logical_mode_asks_for_ownership_and_replication(db_url: str) -> None:
    role = f"bridge_{uuid.uuid4().hex[:8]}"
    execute(
        db_url, f"CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    )
    async with await psycopg.AsyncConnection.connect(
        db_url.replace("postgres@", f"{role}@", 1)
    ) as conn:
        report = await contract.check(conn, Settings().watched_tables, "logical", api=False)
    assert report.schema == []
    assert "ownership of reservations (a publication needs it)" in report.privileges
    assert "the REPLICATION attribute" in report.privileges
    assert f"ALTER ROLE {role} REPLICATION;" in report.grants
    assert f"ALTER TABLE reservations OWNER TO {role};" in report.grants
    # Tables bookings only read or write are not published: no ownership asked for them.
    assert not any("users" in g or "reservation_rates" in g for g in report.grants)


async def execute_async(url: str, statement: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(statement.encode())


def contract_ok() -> float | None:
    return REGISTRY.get_sample_value("pms_bridge_schema_contract_ok")


async def wait_for(predicate_name: str, check: object, limit_s: float = 60.0) -> None:
    """Polls an async predicate; the limit only guards against a hang."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {predicate_name}")


async def test_a_column_renamed_under_load_pauses_applying_and_loses_nothing(
    settings: Settings, db_url: str
) -> None:
    settings = msgspec.structs.replace(settings, capture="trigger", contract_interval=0.2)
    cache = MemoryCache()
    key = await create_key(db_url, 1, "read")
    writers = Writers(db_url, workers=3)
    stop_writing = asyncio.Event()
    async with running_api(settings, cache, run_bridge=True) as api:
        bridge = api.bridge
        assert bridge is not None
        writing = asyncio.create_task(writers.run(10**9, stop_writing))
        async with api.client(key) as http:
            await wait_for("writers under way", lambda: _true(writers.changes > 50))
            # A column of the contract that the writers never name, so they go on writing.
            await execute_async(
                db_url,
                "ALTER TABLE reservation_details RENAME COLUMN plans_global_id TO global_plan",
            )

            async def paused() -> bool:
                answer = await http.get("/health/ready")
                return answer.status_code == 503

            await wait_for("readiness reports the pause", paused)
            ready = (await http.get("/health/ready")).json()
            detail = ready["checks"]["capture"]["detail"]
            # Said by the contract check, or by the first statement that met the new schema.
            assert "applying paused" in detail and "plans_global_id" in detail
            assert contract_ok() == 0
            night = date.today() + timedelta(days=3)
            availability = await http.get(
                "/api/booking-engine/availability/1",
                params={
                    "start_date": night.isoformat(),
                    "end_date": (night + timedelta(2)).isoformat(),
                },
            )
            assert availability.status_code == 200
            assert availability.json()["stale"] is True
            written_while_paused = writers.changes
            await wait_for(
                "writes go on", lambda: _true(writers.changes > written_while_paused + 50)
            )
            assert bridge.parked == 0

            await execute_async(
                db_url,
                "ALTER TABLE reservation_details RENAME COLUMN global_plan TO plans_global_id",
            )
            await wait_for("ready again", lambda: _status(http, "/health/ready", 200))
            assert contract_ok() == 1
            resumed = (await http.get("/health/ready")).json()["checks"]["capture"]["detail"]
            assert "changes waiting" in resumed  # outbox rows, in trigger mode
            stop_writing.set()
            await writing

            async def caught_up() -> bool:
                async with await psycopg.AsyncConnection.connect(db_url) as conn:
                    verdict = await compare(conn, cache, horizon(settings))
                return verdict.lost == 0 and verdict.duplicated == 0 and bridge.lag[0] == 0

            await wait_for("the cache agrees with the PMS", caught_up, limit_s=120)
    assert bridge.parked == 0
    assert bridge.applied >= writers.changes
    with psycopg.connect(db_url) as conn:
        parked = conn.execute("SELECT count(*) FROM pms_bridge.parked_changes").fetchone()
    assert parked == (0,)


async def _true(value: bool) -> bool:
    return value


async def _status(http: object, path: str, code: int) -> bool:
    answer = await http.get(path)  # type: ignore[attr-defined]
    return bool(answer.status_code == code)


async def test_a_statement_failing_on_the_schema_pauses_and_bookings_get_503(
    settings: Settings, db_url: str
) -> None:
    # No periodic check after the first: the recompute's own failure must pause applying.
    settings = msgspec.structs.replace(settings, capture="trigger", contract_interval=3600)
    key = await create_key(db_url, 1, "book")
    writers = Writers(db_url, workers=2)
    async with running_api(settings, MemoryCache(), run_bridge=True) as api:
        bridge = api.bridge
        assert bridge is not None
        async with api.client(key) as http:
            await writers.run(10)
            await wait_for("the first changes applied", lambda: _true(bridge.applied > 0))
            # A column the recompute reads and the writers do not write.
            await execute_async(
                db_url, "ALTER TABLE rooms RENAME COLUMN is_staff_room TO staff_only"
            )
            await writers.run(30)
            await wait_for("applying paused", lambda: _true(bridge.paused is not None))
            # The recompute's own error, not the periodic check, paused it.
            assert "is_staff_room does not exist" in (bridge.paused or "")
            types = await http.get("/api/booking-engine/room-types/1")
            check_in = date.today() + timedelta(days=200)
            booking = await http.post(
                "/api/booking-engine/bookings",
                json={
                    "hotel_id": 1,
                    "room_type_id": types.json()["room_types"][0]["room_type_id"],
                    "check_in": check_in.isoformat(),
                    "check_out": (check_in + timedelta(days=1)).isoformat(),
                    "guests": 1,
                    "guest": {"name": "Schema Pause"},
                },
            )
            assert booking.status_code == 503, booking.text
            assert booking.headers["retry-after"] == "5"
            assert "schema does not fit" in booking.json()["detail"]
            await execute_async(
                db_url, "ALTER TABLE rooms RENAME COLUMN staff_only TO is_staff_room"
            )
            await wait_for("applying resumed", lambda: _true(bridge.paused is None))
            await wait_for("caught up", lambda: _true(bridge.lag[0] == 0 and bridge.applied > 0))
    assert bridge.parked == 0
