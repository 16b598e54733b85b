"""Delivery to the booking engine's webhook, against a local receiver playing the booking engine."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.delivery.receiver import Received, always_ok
from bridge.delivery.retry import requeue
from bridge.delivery.signing import LEGACY_SIGNATURE_HEADER, sign, verify
from metrics import definitions as m
from tests.support.delivery import (
    book,
    delivering,
    fail_first,
    receiving,
    sql,
    sync_row,
    synced,
    wait_for,
)
from tests.support.pipeline import run_once

ROOT = Path(__file__).resolve().parents[3]


async def test_500_then_200_is_retried_and_delivered_once(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, fail_first(500)) as (receiver, secret):
        booking = await book(url, nights=2)
        await run_once(settings, MemoryCache())
        assert (await sync_row(url, booking))[0] == "pending"
        async with delivering(url):
            await wait_for(synced(url, booking))

    keys = {r.key for r in receiver.requests}
    assert len(receiver.requests) == 2 and len(keys) == 1
    assert receiver.acknowledged == {keys.pop(): 1}
    assert all(r.signature_ok for r in receiver.requests)
    status, retries, error, engine_id, attempted = await sync_row(url, booking)
    assert (status, retries, error, attempted) == ("synced", 1, None, True)
    assert engine_id == f"be-{str(booking)[:8]}"
    event = msgspec.json.decode(receiver.applied[0].body)
    assert (event["operation"], event["hotel_id"]) == ("created", 1)
    assert event["event_id"] == receiver.applied[0].key
    assert event["reservation"]["id"] == str(booking)
    assert [n["price"] for n in event["reservation"]["nights"]] == [12000.0, 12000.0]
    assert event["occurred_at"]
    # Both attempts carried the same bytes, so the booking engine can compare them.
    assert receiver.requests[0].body == receiver.requests[1].body
    assert verify(secret, receiver.requests[0].body, sign(secret, receiver.requests[0].body))


async def test_timeout_is_retried(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, fail_first(None)) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, timeout=0.5):
            await wait_for(synced(url, booking))
    assert len(receiver.requests) == 2
    assert len({r.key for r in receiver.requests}) == 1
    assert (await sync_row(url, booking))[:3] == ("synced", 1, None)
    errors = await sql(
        url,
        "SELECT attempts, status FROM pms_bridge.delivery_events WHERE booking_id = %s",
        (booking,),
    )
    assert errors == [(2, "delivered")]


async def test_signature_is_verifiable_with_the_shared_secret(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    captured: list[Received] = []

    def record(request: Received, _seen: int) -> int:
        captured.append(request)
        return 200

    async with receiving(url, record) as (_receiver, secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url):
            await wait_for(synced(url, booking))
    body = captured[0].body
    assert captured[0].signature_ok
    assert verify(secret, body, sign(secret, body))
    assert not verify("another secret", body, sign(secret, body))
    assert not verify(secret, body + b" ", sign(secret, body))
    assert captured[0].legacy_signature_ok
    assert LEGACY_SIGNATURE_HEADER == "X-PMS-Signature"


async def test_failed_after_retry_limit_then_sync_retry_requeues(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    failing = True

    def script(_request: Received, _seen: int) -> int:
        return 503 if failing else 200

    failed_before = m.delivery_failed._value.get()
    async with receiving(url, script) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, max_attempts=3, retry_for=0.0):

            async def failed() -> bool:
                return (await sync_row(url, booking))[0] == "failed"

            await wait_for(failed)
        status, retries, error, _engine, _at = await sync_row(url, booking)
        assert (status, retries) == ("failed", 2)
        assert error is not None and "HTTP 503" in error
        assert len(receiver.requests) == 3
        assert m.delivery_failed._value.get() == failed_before + 1

        # A later PMS change does not hide the failure.
        await sql(url, "UPDATE reservations SET comment = 'late' WHERE id = %s", (booking,))
        await run_once(settings, MemoryCache())
        assert (await sync_row(url, booking))[0] == "failed"

        failing = False
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            assert await requeue(conn, None) == 1
        assert (await sync_row(url, booking))[:2] == ("pending", 0)
        async with delivering(url):
            await wait_for(synced(url, booking))
    applied = [msgspec.json.decode(r.body)["reservation"].get("comment") for r in receiver.applied]
    assert applied == [None, "late"]  # order kept: the failed event first, then the newer one


async def test_order_is_kept_per_reservation(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, fail_first(500)) as (receiver, _secret):
        bookings = [await book(url, offset=20 + 3 * i, nights=1) for i in range(4)]
        await run_once(settings, MemoryCache())
        for booking in bookings:
            await sql(url, "UPDATE reservations SET comment = 'x' WHERE id = %s", (booking,))
        await run_once(settings, MemoryCache())
        for booking in bookings:
            await sql(url, "UPDATE reservations SET status = 'cancelled' WHERE id = %s", (booking,))
        await run_once(settings, MemoryCache())
        async with delivering(url, concurrency=3):
            for booking in bookings:
                await wait_for(synced(url, booking))
    for booking in bookings:
        seen = [r.operation for r in receiver.applied if r.booking_id == str(booking)]
        assert seen == ["created", "updated", "cancelled"]
    assert all(count == 1 for count in receiver.acknowledged.values())
    assert len(receiver.acknowledged) == 12


async def test_booking_engine_write_is_not_echoed(settings: Settings, capture_mode: str) -> None:
    """The booking engine's own writes through the API, one or two of them in one batch (a
    create and a change in quick succession), come back neither as a pending row nor as an
    event; a change made in the PMS does."""
    url = settings.database_url
    assert url is not None
    mode = msgspec.structs.replace(settings, capture=capture_mode)
    async with receiving(url, fail_first(200)) as (receiver, _secret):
        await run_once(mode, MemoryCache())  # a logical slot starts here
        booking = uuid.uuid4()
        night = date.today() + timedelta(days=40)
        # What the API does: each write and its echo mark (pms_bridge.api_booking_echo) in
        # one transaction; both transactions are captured in the same batch.
        async with await psycopg.AsyncConnection.connect(url) as conn:
            client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
            assert client is not None
            await conn.execute(
                "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in,"
                " check_out, number_of_people, status, type)"
                " VALUES (%s, 1, %s, %s, %s, 1, 'confirmed', 'web')",
                (booking, client[0], night, night + timedelta(days=1)),
            )
            await conn.execute(
                "SELECT pms_bridge.api_booking_echo(1, %s, 'be-own', 'insert')", (booking,)
            )
            await conn.commit()
            await conn.execute(
                "UPDATE reservations SET comment = 'engine change' WHERE id = %s", (booking,)
            )
            await conn.execute(
                "SELECT pms_bridge.api_booking_echo(1, %s, 'be-own', 'update')", (booking,)
            )
        await run_once(mode, MemoryCache())
        assert (await sync_row(url, booking))[0] == "synced"
        assert await sql(url, "SELECT count(*) FROM pms_bridge.delivery_events") == [(0,)]

        # A later change made in the PMS is news to the booking engine.
        await sql(url, "UPDATE reservations SET comment = 'front desk' WHERE id = %s", (booking,))
        await run_once(mode, MemoryCache())
        assert (await sync_row(url, booking))[0] == "pending"
        async with delivering(url):
            await wait_for(synced(url, booking))
    assert [r.operation for r in receiver.applied] == ["updated"]
    sent = msgspec.json.decode(receiver.applied[0].body)["reservation"]
    assert (sent["comment"], sent["booking_engine_id"]) == ("front desk", "be-own")


WORKER = """
import asyncio, sys
from bridge.delivery.worker import DeliveryWorker

async def main() -> None:
    await DeliveryWorker(
        sys.argv[1], poll_interval=0.1, timeout=60, allow_loopback_http=True
    ).run(asyncio.Event())

asyncio.run(main())
"""


async def test_kill_9_during_delivery_loses_nothing_and_repeats_the_key(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    arrived = asyncio.Event()

    def script(_request: Received, seen: int) -> int | None:
        if seen == 0:
            arrived.set()
            return None  # hold the first request open while the sender dies
        return 200

    async with receiving(url, script) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, url, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        try:
            await asyncio.wait_for(arrived.wait(), 60)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        assert (await sync_row(url, booking))[0] == "pending"
        async with delivering(url):
            await wait_for(synced(url, booking))
    keys = [r.key for r in receiver.requests]
    assert len(keys) == 2 and len(set(keys)) == 1
    assert receiver.acknowledged == {keys[0]: 1}
    assert await sql(url, "SELECT status FROM pms_bridge.delivery_events") == [("delivered",)]


async def test_cli_sync_retry_requeues_one_booking(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, lambda _r, _s: 503) as (receiver, _secret):
        booking = await book(url)
        await run_once(settings, MemoryCache())
        async with delivering(url, max_attempts=1, retry_for=0.0):

            async def failed() -> bool:
                return (await sync_row(url, booking))[0] == "failed"

            await wait_for(failed)
        receiver.script = always_ok
        env = {**os.environ, "DATABASE_URL": url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge.cli",
            "sync",
            "retry",
            "--booking",
            str(booking),
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, out
        assert f"requeued 1 event(s) for booking {booking}" in out.decode()
        async with delivering(url):
            await wait_for(synced(url, booking))
    assert [r.key for r in receiver.applied] == [receiver.requests[0].key]


async def test_run_delivers_beside_the_bridge(settings: Settings) -> None:
    """`pms-bridge run` (serve) starts the worker and the refresher beside the bridge."""
    from bridge.wiring.process import serve

    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok) as (receiver, _secret):
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, stop, run_api=False, cache=MemoryCache()))
        try:
            booking = await book(url)
            await wait_for(synced(url, booking))
        finally:
            stop.set()
            await server
    assert [r.operation for r in receiver.applied] == ["created"]
    triggers = await sql(url, "SELECT DISTINCT triggered_by FROM booking_engine_cache_triggers")
    assert triggers == [("startup",)]  # the refresher's first fill of the hotel caches


async def test_reservations_go_concurrently_up_to_the_bound(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok) as (receiver, _secret):
        gate = receiver.gate = asyncio.Event()
        bookings = [await book(url, offset=10 + 3 * i, nights=1) for i in range(6)]
        await run_once(settings, MemoryCache())
        async with delivering(url, concurrency=4):

            async def four_held() -> bool:
                return receiver.in_flight == 4

            await wait_for(four_held)
            gate.set()
            for booking in bookings:
                await wait_for(synced(url, booking))
    assert receiver.max_in_flight == 4  # reached the bound, never beyond it
    assert len(receiver.applied) == 6


async def test_a_thousand_bookings_each_delivered_exactly_once(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    night = date.today() + timedelta(days=45)
    async with receiving(url, fail_first(500)) as (receiver, _secret):
        # 1000 one-night stays in one PMS transaction: 2000 captured changes.
        await sql(
            url,
            "WITH r AS (INSERT INTO reservations (hotel_id, reservation_client_id, check_in,"
            " check_out, number_of_people, status)"
            " SELECT 1, (SELECT min(id::text)::uuid FROM clients),"
            " %s::date + (i / 20), %s::date + (i / 20) + 1, 1, 'confirmed'"
            " FROM generate_series(0, 999) i RETURNING id, check_in)"
            " INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
            " number_of_people)"
            " SELECT 1, r.id, r.check_in, (SELECT min(id) FROM rooms WHERE hotel_id = 1), 1"
            " FROM r",
            (night, night),
        )
        await run_once(settings, MemoryCache())
        async with delivering(url, concurrency=16):

            async def all_synced() -> bool:
                rows = await sql(
                    url,
                    "SELECT count(*) FILTER (WHERE sync_status = 'synced'), count(*)"
                    " FROM booking_sync_status WHERE hotel_id = 1 AND last_changed_at IS NOT NULL",
                )
                return rows == [(1000, 1000)]

            await wait_for(all_synced, limit=300)
    assert len(receiver.applied) == 1000
    assert len({r.booking_id for r in receiver.applied}) == 1000
    assert set(receiver.acknowledged.values()) == {1}
    assert len(receiver.requests) == 2000  # each key failed once, then went through once
    assert all(r.signature_ok and r.operation == "created" for r in receiver.applied)


async def test_a_broken_webhook_url_fails_with_a_clear_error(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    await sql(
        url,
        "INSERT INTO booking_engine_config (hotel_id, booking_engine_url) VALUES (2, 'http://[::1')",
    )
    booking = await book(url, hotel_id=2)
    await run_once(settings, MemoryCache())
    async with delivering(url, max_attempts=2, retry_for=0.0):

        async def failed() -> bool:
            return (await sync_row(url, booking))[0] == "failed"

        await wait_for(failed)
    status, retries, error, _engine, attempted = await sync_row(url, booking)
    assert (status, retries, attempted) == ("failed", 1, True)
    assert error is not None and error.startswith("InvalidURL")
