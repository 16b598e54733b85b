"""Slot safety: one-line refusals, replica identity, status lag, slot drop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest

from bridge.capture import install as capture
from bridge.capture import slot as slots
from bridge.capture.logical import LogicalSource
from bridge.cli import main
from bridge.config import Settings
from bridge.embedded import PostgresCluster
from bridge.status import collect_status
from metrics.definitions import REGISTRY
from tests.conftest import TEMPLATE, build_template
from tests.support.pipeline import outbox_size


@pytest.fixture(scope="module")
def replica_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    bindir = os.environ.get("PMS_BRIDGE_TEST_PG_BINDIR")
    cluster = PostgresCluster(
        workdir / "wal-replica",
        bindir=Path(bindir) if bindir else None,
        settings={"wal_level": "replica", "fsync": "off"},
    )
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def one_slot_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    bindir = os.environ.get("PMS_BRIDGE_TEST_PG_BINDIR")
    cluster = PostgresCluster(
        workdir / "one-slot",
        bindir=Path(bindir) if bindir else None,
        settings={"max_replication_slots": "1", "fsync": "off"},
    )
    cluster.start()
    yield cluster
    cluster.destroy()


def logical(settings: Settings, **changes: object) -> Settings:
    return msgspec.structs.replace(settings, capture="logical", **changes)


async def test_refuses_to_start_when_wal_level_is_not_logical(
    replica_cluster: PostgresCluster, settings: Settings
) -> None:
    source = LogicalSource(replica_cluster.url(), logical(settings))
    with pytest.raises(slots.LogicalSetupError) as refused:
        await source.open(None)
    await source.close()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("wal_level is replica")
    assert "ALTER SYSTEM SET wal_level = logical" in message


async def test_refuses_to_start_when_the_role_cannot_replicate(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    role = f"norepl_{url.rsplit('/', 1)[1]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN NOREPLICATION')
    try:
        source = LogicalSource(url.replace("postgres@", f"{role}@"), logical(settings))
        with pytest.raises(slots.LogicalSetupError) as refused:
            await source.open(None)
        await source.close()
        message = str(refused.value)
        assert "\n" not in message
        assert message == (
            f"role {role} lacks REPLICATION: run ALTER ROLE {role} REPLICATION as a superuser "
            "(or use BRIDGE_CAPTURE=trigger)"
        )
    finally:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f'DROP ROLE "{role}"')


async def identities(url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT c.relname, c.relreplident::text FROM pg_class c"
            " WHERE c.relname ~ '^(reservation_details|rooms|room_types|reservations)(_\\d+)?$'"
        )
        return dict(await cur.fetchall())


async def test_replica_identity_full_where_old_rows_are_needed_new_partitions_too(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    before = await identities(url)
    assert set(before.values()) == {"d"}  # trigger mode never pays for wider WAL records
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await slots.prepare(conn, settings.publication_name, settings.watched_tables)
        await conn.execute(
            "CREATE TABLE reservation_details_77 PARTITION OF reservation_details"
            " FOR VALUES IN (77)"
        )
        assert await slots.identity_missing(conn, settings.watched_tables) == [
            "reservation_details_77"
        ]
        await slots.prepare(conn, settings.publication_name, settings.watched_tables)
    after = await identities(url)
    assert set(after.values()) == {"f"}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT relname FROM pg_class WHERE relname ~ '^(hotels|clients|plans_rates)$'"
            " AND relreplident <> 'd'"
        )
        assert await cur.fetchall() == []


def test_slot_drop_refuses_while_streaming_then_removes_slot_and_publication(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = settings.database_url
    assert url is not None
    settings = logical(settings)
    source = LogicalSource(url, settings)

    async def open_and_check() -> None:
        await source.open(None)
        with pytest.raises(slots.LogicalSetupError, match="in use by process"):
            await slots.drop(url, settings.slot_name, settings.publication_name)
        report = await collect_status(settings)
        assert report.extra["slot"] == f"{settings.slot_name} (streaming)"
        assert report.extra["slot lag"].endswith(" s")
        await source.close()

    asyncio.run(open_and_check())
    monkeypatch.setenv("BRIDGE_SLOT", settings.slot_name)
    monkeypatch.setenv("BRIDGE_PUBLICATION", settings.publication_name)
    argv = ["--capture", "logical", "--database-url", url, "slot", "drop"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == (
        f"slot drop: slot {settings.slot_name} dropped, "
        f"publication {settings.publication_name} dropped"
    )

    async def gone() -> tuple[object, object]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            slot = await (
                await conn.execute(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                    (settings.slot_name,),
                )
            ).fetchone()
            publication = await (
                await conn.execute(
                    "SELECT 1 FROM pg_publication WHERE pubname = %s",
                    (settings.publication_name,),
                )
            ).fetchone()
        return slot, publication

    assert asyncio.run(gone()) == (None, None)
    assert main(argv) == 0
    assert "was absent" in capsys.readouterr().out


async def test_refuses_with_one_line_when_every_slot_is_taken(
    one_slot_cluster: PostgresCluster, settings: Settings
) -> None:
    await build_template(one_slot_cluster.url(), one_slot_cluster.url(TEMPLATE), Settings())
    url = one_slot_cluster.url(TEMPLATE)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_create_logical_replication_slot('taken', 'pgoutput')")
    source = LogicalSource(url, logical(settings, database_url=url))
    with pytest.raises(slots.LogicalSetupError) as refused:
        await source.open(None)
    await source.close()
    assert str(refused.value) == (
        "every replication slot is in use: raise max_replication_slots (a restart) or "
        "drop an unused slot"
    )


async def test_slot_lag_above_the_threshold_raises_the_warning_metric_and_status_line(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    quiet = logical(settings)
    loud = logical(settings, slot_lag_warn_bytes=0)
    source = LogicalSource(url, quiet)
    await source.open(None)
    try:
        behind, _seconds = await source.lag()
        assert REGISTRY.get_sample_value("pms_bridge_slot_lag_warning") == 0
        assert REGISTRY.get_sample_value("pms_bridge_slot_lag_bytes") == behind
        assert "warning" not in (await collect_status(quiet)).extra
        source.settings = loud
        await source.lag()
        assert REGISTRY.get_sample_value("pms_bridge_slot_lag_warning") == 1
        report = await collect_status(loud)
        assert report.extra["warning"] == "slot lag above BRIDGE_SLOT_LAG_WARN_BYTES=0"
        assert "slot lag:" in report.render()
    finally:
        source.settings = quiet
        await source.lag()
        await source.close()


async def test_status_in_logical_mode_shows_the_slot_not_the_outbox(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    settings = logical(settings)
    source = LogicalSource(url, settings)
    await source.open(None)
    await source.close()  # the slot stays, nobody consumes it
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # Written at commit even where the test cluster commits asynchronously.
        await conn.execute("SET synchronous_commit = on")
        await conn.execute("UPDATE rooms SET for_sale = NOT for_sale WHERE hotel_id = 2")
    report = await collect_status(settings)
    assert report.waiting > 0  # WAL bytes behind the slot, not outbox rows
    assert report.extra["slot"] == f"{settings.slot_name} (inactive)"
    assert report.extra["slot lag"].startswith(f"{report.waiting} bytes, ")
    lines = dict(line.split(":", 1) for line in report.render().splitlines())
    assert "waiting" not in lines
    assert "lag" not in lines


def logical_objects(url: str, settings: Settings) -> tuple[bool, bool]:
    with psycopg.connect(url) as conn:
        slot = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (settings.slot_name,)
        ).fetchone()
        publication = conn.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = %s", (settings.publication_name,)
        ).fetchone()
    return slot is not None, publication is not None


def capture_triggers(url: str) -> set[str]:
    async def read() -> set[str]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await capture.installed(conn)

    return asyncio.run(read())


def test_migrate_to_logical_removes_the_capture_triggers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = settings.database_url
    assert url is not None
    assert capture_triggers(url)  # the template was migrated in trigger mode
    monkeypatch.setenv("BRIDGE_SLOT", settings.slot_name)
    monkeypatch.setenv("BRIDGE_PUBLICATION", settings.publication_name)

    assert main(["--capture", "logical", "--database-url", url, "migrate"]) == 0

    said = capsys.readouterr().out
    assert "capture triggers removed from clients, hotel_plan_exclusions, hotels, " in said
    assert f"publication {settings.publication_name} on " in said
    assert capture_triggers(url) == set()
    before = asyncio.run(outbox_size(url))
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE rooms SET for_sale = NOT for_sale WHERE hotel_id = 1")
    assert asyncio.run(outbox_size(url)) == before  # nothing fills the outbox any more
    assert logical_objects(url, settings) == (False, True)  # the slot comes with `run`


def test_migrate_back_to_trigger_keeps_the_slot_unless_told_to_drop_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = settings.database_url
    assert url is not None
    monkeypatch.setenv("BRIDGE_SLOT", settings.slot_name)
    monkeypatch.setenv("BRIDGE_PUBLICATION", settings.publication_name)
    assert main(["--capture", "logical", "--database-url", url, "migrate"]) == 0
    source = LogicalSource(url, logical(settings))

    async def make_slot() -> None:
        await source.open(None)
        await source.close()

    asyncio.run(make_slot())
    capsys.readouterr()

    assert main(["--capture", "trigger", "--database-url", url, "migrate"]) == 0
    said = capsys.readouterr().out
    assert capture_triggers(url) >= {"hotels", "reservations", "reservation_details"}
    assert logical_objects(url, settings) == (True, True)
    assert (
        f"slot {settings.slot_name} and publication {settings.publication_name} of logical "
        "capture left in place"
    ) in said
    assert "--drop-logical" in said

    assert main(["--capture", "trigger", "--database-url", url, "migrate", "--drop-logical"]) == 0
    said = capsys.readouterr().out
    assert f"dropped slot {settings.slot_name} and publication {settings.publication_name}" in said
    assert logical_objects(url, settings) == (False, False)
    assert capture_triggers(url) >= {"hotels", "reservations", "reservation_details"}
    # With logical capture, the flag is a mistake: refused in one line, nothing changed.
    assert main(["--capture", "logical", "--database-url", url, "migrate", "--drop-logical"]) == 2
    assert "--drop-logical" in capsys.readouterr().err
