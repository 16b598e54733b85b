"""kill -9 of `pms-bridge run` with bookings in flight: each is whole or absent, retries agree."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg

from bridge.embedded import free_port
from tests.support.api_server import create_key
from tests.support.processes import wait_ready

BOOKINGS = 60
PATH = "/api/booking-engine/bookings"


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bridge.cli", "run"], env=env)


def _bodies(room_types: list[int]) -> dict[str, dict[str, Any]]:
    rng = random.Random(11)
    bodies = {}
    for i in range(BOOKINGS):
        check_in = date.today() + timedelta(days=rng.randrange(60, 300))
        bodies[f"crash-{i}"] = {
            "hotel_id": 1,
            "room_type_id": rng.choice(room_types),
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=rng.randint(1, 3))).isoformat(),
            "guests": 1,
            "guest": {"name": f"Crash Guest {i}"},
        }
    return bodies


async def _post_all(
    base: str,
    key: str,
    bodies: dict[str, dict[str, Any]],
    kill_after: int | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> dict[str, tuple[int | None, Any]]:
    """Every booking at once, each with its Idempotency-Key; with kill_after, the server is
    killed (SIGKILL) once that many answers came back, the rest still in flight."""
    limits = httpx.Limits(max_connections=BOOKINGS)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def post(idem: str) -> tuple[str, int | None, Any]:
            try:
                reply = await http.post(PATH, json=bodies[idem], headers={"Idempotency-Key": idem})
            except httpx.TransportError:
                return idem, None, None
            return idem, reply.status_code, reply.json()

        tasks = [asyncio.create_task(post(idem)) for idem in bodies]
        if kill_after is not None:
            assert proc is not None
            for answered, next_done in enumerate(asyncio.as_completed(tasks), start=1):
                await next_done
                if answered == kill_after:
                    proc.send_signal(signal.SIGKILL)
                    break
        return {idem: (code, body) for idem, code, body in await asyncio.gather(*tasks)}


async def test_bookings_in_flight_at_kill_9_are_whole_or_absent_and_retries_agree(
    db_url: str,
) -> None:
    key = await create_key(db_url, 1, "book")
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT room_type_id FROM rooms WHERE hotel_id = 1 AND for_sale"
            " AND NOT is_staff_room ORDER BY 1"
        )
        room_types = [row[0] for row in await cur.fetchall()]
    bodies = _bodies(room_types)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_RATE_LIMITS": "book=100000:100000",
    }
    env.pop("REDIS_URL", None)
    base = f"http://127.0.0.1:{port}"

    proc = _start(env)
    try:
        await asyncio.to_thread(wait_ready, base, proc)
        first = await _post_all(base, key, bodies, kill_after=5, proc=proc)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    lost_in_flight = [idem for idem, (code, _) in first.items() if code is None]
    assert lost_in_flight, "the kill came after every answer: nothing was in flight"

    proc = _start(env)
    try:
        await asyncio.to_thread(wait_ready, base, proc)
        retried = await _post_all(base, key, bodies)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    # A retry answers every key; an answer given before the kill is given again, unchanged.
    assert {code for code, _ in retried.values()} <= {201, 409}
    for idem, (code, body) in first.items():
        if code is not None:
            assert retried[idem] == (code, body), idem
    booked = {body["booking_id"] for code, body in retried.values() if code == 201}
    assert len(booked) == sum(1 for code, _ in retried.values() if code == 201)

    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT r.id::text, r.check_out - r.check_in,"
            "       (SELECT count(*) FROM reservation_details d"
            "        WHERE d.hotel_id = r.hotel_id AND d.reservation_id = r.id"
            "          AND d.cancelled IS NULL)"
            " FROM reservations r JOIN clients c ON c.id = r.reservation_client_id"
            " WHERE r.hotel_id = 1 AND r.type = 'web' AND c.name LIKE 'Crash Guest %%'"
        )
        reservations = await cur.fetchall()
        cur = await conn.execute(
            "SELECT count(*) FROM clients c WHERE c.name LIKE 'Crash Guest %%' AND NOT EXISTS"
            " (SELECT 1 FROM reservations r WHERE r.reservation_client_id = c.id)"
        )
        orphan_guests = await cur.fetchone()
    # Exactly the bookings the retries answered 201 exist, each with all of its nights, and
    # no guest row was left behind by a transaction the kill cut short.
    assert {row[0] for row in reservations} == booked
    assert all(nights == written for _, nights, written in reservations)
    assert orphan_guests == (0,)
