"""Dead-letter tools: parked changes and failed deliveries listed, retried and dropped, and a
hotel's bookings sent again, from the CLI and the admin API, each action audited."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import msgspec

from bridge.cache.base import Cache
from bridge.cache.memory import MemoryCache
from bridge.cache.redis import RedisCache
from bridge.config import Settings
from bridge.delivery.receiver import Received
from tests.support.api_server import create_key, running_api
from tests.support.delivery import (
    book,
    delivering,
    receiving,
    sql,
    synced,
    wait_for,
)
from tests.support.pipeline import cached, run_once, truth
from tests.support.processes import run_cli

ADMIN = "/api/booking-engine/admin"


def unwatching(settings: Settings, table: str) -> Settings:
    """The bridge as it ran before `table` was among BRIDGE_WATCHED_TABLES: the capture
    trigger still writes its changes to the outbox, and the consumer parks them."""
    watched = tuple(t for t in settings.watched_tables if t != table)
    return msgspec.structs.replace(settings, capture="trigger", watched_tables=watched)


async def park_a_cancellation(settings: Settings, cache: Cache) -> tuple[uuid.UUID, int]:
    """A one-night booking of hotel 1 applied, then the cancellation of its night parked;
    returns the booking and the parked change's id."""
    url = settings.database_url
    assert url is not None
    booking = await book(url, offset=40, nights=1)
    await run_once(settings, cache)
    await sql(
        url,
        "UPDATE reservation_details SET cancelled = reservation_id WHERE reservation_id = %s",
        (booking,),
    )
    bridge = await run_once(unwatching(settings, "reservation_details"), cache)
    assert bridge.parked == 1
    rows = await sql(url, "SELECT id, table_name, op FROM pms_bridge.parked_changes")
    assert [row[1:] for row in rows] == [("reservation_details", "update")]
    return booking, int(rows[0][0])


async def park_a_poison_change(url: str, settings: Settings, cache: Cache) -> int:
    """A change whose hotel_id PostgreSQL cannot store: it fails again on every try."""
    poison = {"hotel_id": 99_999_999_999, "id": str(uuid.uuid4()), "status": "confirmed"}
    await sql(
        url,
        "INSERT INTO pms_bridge.outbox (table_name, op, new_row) VALUES ('reservations', 'I', %s)",
        (json.dumps(poison),),
    )
    before = {row[0] for row in await sql(url, "SELECT id FROM pms_bridge.parked_changes")}
    await run_once(settings, cache)
    after = {row[0] for row in await sql(url, "SELECT id FROM pms_bridge.parked_changes")}
    (parked_id,) = after - before
    return int(parked_id)


async def nights_of(url: str, booking: uuid.UUID, settings: Settings, cache: Cache) -> bool:
    """Whether the cache holds what the PMS holds for the booking's nights."""
    rows = await sql(
        url,
        "SELECT d.hotel_id, r.room_type_id, d.date FROM reservation_details d"
        " JOIN rooms r ON r.hotel_id = d.hotel_id AND r.id = d.room_id"
        " WHERE d.reservation_id = %s",
        (booking,),
    )
    now, held = await truth(url, settings), await cached(cache)
    return all(held.get(tuple(row)) == now[tuple(row)] for row in rows)


async def audited(url: str, action: str) -> list[dict[str, Any]]:
    rows = await sql(
        url,
        "SELECT request_data, response_data FROM booking_engine_audit_log"
        " WHERE action = %s ORDER BY id",
        (action,),
    )
    return [{"request": r[0], "response": r[1]} for r in rows]


def env_of(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None and settings.redis_url is not None
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "BRIDGE_REDIS_PREFIX": settings.redis_prefix,
    }


async def test_cli_lists_shows_retries_and_drops_parked_changes(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None and settings.redis_url is not None
    cache = RedisCache(settings.redis_url, settings.redis_prefix)
    env = env_of(settings)
    try:
        async with receiving(url, lambda _r, _s: 200) as (receiver, _secret):
            booking, parked_id = await park_a_cancellation(settings, cache)
            poison_id = await park_a_poison_change(url, settings, cache)
            assert not await nights_of(url, booking, settings, cache)

            code, out, err = await run_cli("parked", "list", env=env)
            assert code == 0, err
            lines = out.splitlines()
            assert lines[0].split() == ["ID", "PARKED", "HOTEL", "TABLE", "OP", "ERROR"]
            listed = {int(line.split()[0]): line for line in lines[1:]}
            assert set(listed) == {parked_id, poison_id}
            assert "is not watched" in listed[parked_id] and " 1 " in listed[parked_id]
            code, out, _ = await run_cli("parked", "list", "--hotel", "2", env=env)
            assert (code, out.splitlines()[1:]) == (0, [])

            code, out, err = await run_cli("parked", "show", str(parked_id), env=env)
            assert code == 0, err
            shown = json.loads(out)
            assert (shown["id"], shown["hotel_id"]) == (parked_id, 1)
            assert shown["payload"]["new"]["cancelled"] == str(booking)

            # The poison change fails again: it stays, with what failed this time.
            await sql(url, "UPDATE pms_bridge.parked_changes SET error = 'before'")
            code, out, _ = await run_cli("parked", "retry", str(poison_id), env=env)
            assert code == 1 and f"{poison_id} still parked" in out
            (error,) = await sql(
                url, "SELECT error FROM pms_bridge.parked_changes WHERE id = %s", (poison_id,)
            )
            assert "out of range" in error[0]

            # The cancelled night, now that its table is watched, goes the normal way: the
            # cache, the sync row, and an event the booking engine receives.
            code, out, err = await run_cli("parked", "retry", str(parked_id), env=env)
            assert (code, out.strip()) == (0, f"parked retry: {parked_id} applied"), err
            assert await nights_of(url, booking, settings, cache)
            assert (await sql(url, "SELECT id FROM pms_bridge.parked_changes")) == [(poison_id,)]
            async with delivering(url):
                await wait_for(synced(url, booking))
            told = msgspec.json.decode(receiver.applied[-1].body)["reservation"]
            assert told["id"] == str(booking) and told["nights"][0]["cancelled"] is True

            code, out, _ = await run_cli("parked", "drop", str(poison_id), env=env)
            assert code == 0 and f"{poison_id} dropped" in out
            assert await sql(url, "SELECT id FROM pms_bridge.parked_changes") == []
            code, out, _ = await run_cli("parked", "drop", str(poison_id), env=env)
            assert code == 1 and f"no parked change {poison_id}" in out
    finally:
        await cache.close()

    retries = await audited(url, "parked.retry")
    assert [(r["request"]["via"], r["response"]["applied"]) for r in retries] == [
        ("cli", False),
        ("cli", True),
    ]
    (dropped,) = await audited(url, "parked.drop")
    assert dropped["request"]["via"] == "cli" and "out of range" in dropped["response"]["error"]


async def test_parked_retry_from_the_cli_needs_the_shared_cache(settings: Settings) -> None:
    assert settings.database_url is not None
    code, _out, err = await run_cli(
        "parked", "retry", "--all", env={"DATABASE_URL": settings.database_url, "REDIS_URL": ""}
    )
    assert code == 2
    assert "REDIS_URL is not set" in err and "/admin/parked-changes/ID/retry" in err


async def test_admin_api_parked_changes_per_hotel_and_for_the_operator(
    settings: Settings, db_url: str
) -> None:
    cache = MemoryCache()
    booking, parked_id = await park_a_cancellation(settings, cache)
    poison_id = await park_a_poison_change(db_url, settings, cache)
    own = await create_key(db_url, 1, "admin")
    other = await create_key(db_url, 2, "admin")
    operator = await create_key(db_url, 2, "operator")
    reader = await create_key(db_url, 1, "read")
    async with (
        running_api(settings, cache) as api,
        api.client(own) as hotel1,
        api.client(other) as hotel2,
        api.client(operator) as ops,
        api.client(reader) as read,
    ):
        listing = f"{ADMIN}/parked-changes"
        assert (await read.get(listing)).status_code == 403
        mine = (await hotel1.get(listing)).json()["parked_changes"]
        assert [(p["id"], p["hotel_id"], p["payload"]) for p in mine] == [(parked_id, 1, None)]
        assert (await hotel2.get(listing)).json() == {"parked_changes": []}
        assert (await hotel2.get(listing, params={"hotel_id": 1})).status_code == 404
        everyone = (await ops.get(listing)).json()["parked_changes"]
        assert [p["id"] for p in everyone] == [parked_id, poison_id]
        assert [
            p["id"]
            for p in (await ops.get(listing, params={"hotel_id": 1})).json()["parked_changes"]
        ] == [parked_id]

        one = f"{listing}/{parked_id}"
        assert (await hotel2.get(one)).status_code == 404
        assert (await hotel2.post(f"{one}/retry")).status_code == 404
        assert (await hotel1.get(f"{listing}/{poison_id}")).status_code == 404
        shown = (await hotel1.get(one)).json()
        assert shown["payload"]["new"]["reservation_id"] == str(booking)

        assert not await nights_of(db_url, booking, settings, cache)
        retried = await hotel1.post(f"{one}/retry")
        assert retried.status_code == 200
        assert retried.json() == {"id": parked_id, "applied": True, "error": None}
        # Applied through the stages into the running API's own cache.
        assert await nights_of(db_url, booking, settings, cache)
        again = await ops.post(f"{listing}/{poison_id}/retry")
        assert again.json()["applied"] is False and "out of range" in again.json()["error"]

        dropped = await ops.delete(f"{listing}/{poison_id}")
        assert dropped.status_code == 200 and dropped.json()["id"] == poison_id
        assert (await ops.get(listing)).json() == {"parked_changes": []}

    async def written() -> bool:
        return len(await audited(db_url, "parked.retry")) >= 3

    await wait_for(written)
    retries = await audited(db_url, "parked.retry")
    # Hotel 2's refused try (404), then the two made.
    assert [r["response"].get("applied") for r in retries] == [None, True, False]
    assert [r["response"]["status_code"] for r in retries] == [404, 200, 200]
    assert [r["response"]["status_code"] for r in await audited(db_url, "parked.drop")] == [200]
    sync = await sql(
        db_url, "SELECT sync_status FROM booking_sync_status WHERE booking_id = %s", (booking,)
    )
    assert sync == [("pending",)]


def failing_until_fixed(state: dict[str, bool]) -> Any:
    def script(_request: Received, _seen: int) -> int:
        return 200 if state["fixed"] else 400

    return script


async def test_failed_deliveries_listed_and_retried_in_order(
    settings: Settings, db_url: str
) -> None:
    state = {"fixed": False}
    own = await create_key(db_url, 1, "admin")
    other = await create_key(db_url, 2, "admin")
    async with receiving(db_url, failing_until_fixed(state)) as (receiver, _secret):
        first, second = await book(db_url, offset=60), await book(db_url, offset=63)
        await run_once(settings, MemoryCache())

        async def both_failed() -> bool:
            rows = await sql(
                db_url,
                "SELECT count(*) FROM booking_sync_status"
                " WHERE booking_id = ANY(%s) AND sync_status = 'failed'",
                ([first, second],),
            )
            return rows == [(2,)]

        async with delivering(db_url):
            await wait_for(both_failed)
        # A later change of a failed booking waits behind its failed event.
        await sql(db_url, "UPDATE reservations SET comment = 'late' WHERE id = %s", (first,))
        await run_once(settings, MemoryCache())

        code, out, err = await run_cli("sync", "failed", "--hotel", "1", env=env_of(settings))
        assert code == 0, err
        holds = {line.split()[2]: int(line.split()[4]) for line in out.splitlines()[1:]}
        assert holds == {str(first): 1, str(second): 0}

        async with (
            running_api(settings, MemoryCache()) as api,
            api.client(own) as hotel1,
            api.client(other) as hotel2,
        ):
            failed = f"{ADMIN}/deliveries/failed"
            assert (await hotel2.get(failed)).json() == {"failed": []}
            assert (await hotel2.get(failed, params={"hotel_id": 1})).status_code == 404
            listed = (await hotel1.get(failed)).json()["failed"]
            assert {(f["booking_id"], f["waiting"]) for f in listed} == {
                (str(first), 1),
                (str(second), 0),
            }
            assert all("HTTP 400" in f["last_error"] for f in listed)
            refused = await hotel2.post(f"{ADMIN}/deliveries/retry", json={})
            assert refused.json() == {"queued": 0}
            state["fixed"] = True
            retried = await hotel1.post(f"{ADMIN}/deliveries/retry", json={})
            assert (retried.status_code, retried.json()) == (200, {"queued": 2})
        async with delivering(db_url):
            await wait_for(synced(db_url, first))
            await wait_for(synced(db_url, second))

    comments = [
        msgspec.json.decode(r.body)["reservation"]["comment"]
        for r in receiver.applied
        if r.booking_id == str(first)
    ]
    assert comments == [None, "late"]  # the failed event first, then the one it held
    assert await sql(
        db_url, "SELECT count(*) FROM pms_bridge.delivery_events WHERE status <> 'delivered'"
    ) == [(0,)]

    async def written() -> bool:
        return len(await audited(db_url, "deliveries.retry")) >= 2

    await wait_for(written)
    assert [r["response"]["queued"] for r in await audited(db_url, "deliveries.retry")] == [0, 2]


async def test_resend_tells_every_booking_of_a_window_again(
    settings: Settings, db_url: str
) -> None:
    since = date.today() + timedelta(days=500)
    async with receiving(db_url, lambda _r, _s: 200) as (receiver, _secret):
        bookings = [await book(db_url, offset=500 + 3 * i) for i in range(3)]
        before = await book(db_url, offset=480)  # its stay ends before the window
        await run_once(settings, MemoryCache())
        async with delivering(db_url):
            for booking in [*bookings, before]:
                await wait_for(synced(db_url, booking))
        first_ids = {r.headers["webhook-id"] for r in receiver.applied}
        (expected,) = await sql(
            db_url,
            "SELECT count(*) FROM reservations WHERE hotel_id = 1 AND check_out >= %s",
            (since,),
        )

        code, out, err = await run_cli(
            "sync", "resend", "--hotel", "1", "--since", since.isoformat(), env=env_of(settings)
        )
        assert code == 0, err
        window = f"with stays ending on or after {since}"
        assert out.strip() == f"sync resend: queued {expected[0]} event(s) for hotel 1 {window}"
        async with delivering(db_url):

            async def all_sent() -> bool:
                open_ = await sql(
                    db_url,
                    "SELECT count(*) FROM pms_bridge.delivery_events WHERE status <> 'delivered'",
                )
                return open_ == [(0,)]

            await wait_for(all_sent)

        again = [r for r in receiver.applied if r.headers["webhook-id"] not in first_ids]
        told = {r.booking_id for r in again}
        assert {str(b) for b in bookings} <= told and str(before) not in told
        assert len(again) == expected[0] and all(r.operation == "updated" for r in again)

        own = await create_key(db_url, 1, "admin")
        other = await create_key(db_url, 2, "admin")
        async with (
            running_api(settings, MemoryCache()) as api,
            api.client(own) as hotel1,
            api.client(other) as hotel2,
        ):
            resend = f"{ADMIN}/deliveries/resend"
            body = {"hotel_id": 1, "since": since.isoformat()}
            assert (await hotel2.post(resend, json=body)).status_code == 404
            answered = await hotel1.post(resend, json=body)
            assert answered.status_code == 200
            assert answered.json() == {
                "hotel_id": 1,
                "queued": expected[0],
                "held_by_failed": 0,
            }
            # Hotel 2 has no webhook: nothing would be sent.
            refused = await hotel2.post(resend, json={"hotel_id": 2})
            assert refused.status_code == 409 and "sync_enabled" in refused.json()["detail"]

    code, _out, err = await run_cli("sync", "resend", "--hotel", "2", env=env_of(settings))
    assert code == 2 and "hotel 2 has no booking_engine_config row" in err

    async def written() -> bool:
        return len(await audited(db_url, "deliveries.resend")) >= 4

    # The CLI's own, then the API's three calls (404, 200, 409), each audited.
    await wait_for(written)
    rows = await audited(db_url, "deliveries.resend")
    assert [r["request"].get("via") for r in rows] == ["cli", None, None, None]
    assert rows[0]["response"] == {"queued": expected[0], "held_by_failed": 0}
    assert [r["response"]["status_code"] for r in rows[1:]] == [404, 200, 409]
    assert rows[2]["response"]["queued"] == expected[0]
