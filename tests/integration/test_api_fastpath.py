"""Memoized availability sent ahead of Litestar: the same answer, headers, audit entry, rate
limit and metrics as the routed call, and every call it must not answer still answered by
the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from api.auth.keys import KeyStore
from api.routes.availability import ROUTE
from api.routes.hotels import HOTEL_ROUTE
from bridge.cache.memory import MemoryCache
from bridge.clock import HotelClock
from bridge.config import Settings
from bridge.sinks.availability import Horizon
from metrics.definitions import REGISTRY
from tests.integration.api_server import (
    ApiServer,
    create_key,
    fill_all_but,
    read_response,
    room_type_with_rooms,
    running_api,
)

P = "/api/booking-engine"
START = date.today() + timedelta(days=9)
END = START + timedelta(days=30)
PATH = f"{P}/availability/1?start_date={START}&end_date={END}"
# Headers that differ between any two calls; everything else must be the same.
PER_CALL = {"date", "ratelimit-remaining", "ratelimit-reset"}


def fast_answers(status: str = "200", route: str = ROUTE, at: str | None = None) -> float:
    """Answers sent ahead of Litestar: at the HTTP protocol, at the ASGI entry, or both."""
    return sum(
        REGISTRY.get_sample_value(
            "pms_bridge_api_fast_answers_total", {"route": route, "status": status, "at": where}
        )
        or 0.0
        for where in ((at,) if at else ("protocol", "entry"))
    )


def routed(status: str) -> float:
    labels = {"route": ROUTE, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("pms_bridge_api_requests_total", labels) or 0.0


def stable(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_CALL}


async def answered_fast(http: httpx.AsyncClient) -> httpx.Response:
    """Asks until an answer comes from the memo: one built before capture is connected says
    `stale` and is not kept."""
    for _ in range(100):  # an upper bound on waiting for capture, not a timing assertion
        served = fast_answers()
        reply = await http.get(PATH)
        if fast_answers() == served + 1:
            return reply
        await asyncio.sleep(0.1)
    raise AssertionError("no answer came from the memo")


@asynccontextmanager
async def memoizing(
    settings: Settings, db_url: str
) -> AsyncIterator[tuple[ApiServer, httpx.AsyncClient, str]]:
    """A server with its bridge, a client with a read key (and the key), and the 30-night
    answer memoized."""
    key = await create_key(db_url, 1, "read")
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(key) as http,
    ):
        await answered_fast(http)
        yield api, http, key


async def test_fast_answer_is_the_routed_answer(settings: Settings, db_url: str) -> None:
    async with memoizing(settings, db_url) as (api, http, _):
        for encoding in ("gzip", "identity"):
            api.ctx.availability_memo.clear()
            before, counted = fast_answers(), routed("200")
            first = await http.get(PATH, headers={"Accept-Encoding": encoding})  # Litestar
            second = await http.get(PATH, headers={"Accept-Encoding": encoding})  # memo
            assert first.status_code == second.status_code == 200
            assert fast_answers() == before + 1
            assert routed("200") == counted + 2  # both counted under the route
            assert second.content == first.content
            assert stable(second) == stable(first)
            assert first.headers.get("content-encoding") == ("gzip" if encoding == "gzip" else None)
            remaining = int(first.headers["ratelimit-remaining"])
            assert int(second.headers["ratelimit-remaining"]) == remaining - 1
        # The same query in another spelling is the same answer, sent by the app.
        before = fast_answers()
        spelled = await http.get(
            f"{P}/availability/1", params={"end_date": str(END), "start_date": str(START)}
        )
        escaped = await http.get(PATH.replace("start_date", "start%5Fdate"))
        assert spelled.json() == escaped.json() == first.json()
        assert fast_answers() == before + 1  # the reordered query is still plain


async def test_calls_it_must_not_answer_get_the_apps_answer(
    settings: Settings, db_url: str
) -> None:
    other_hotel = await create_key(db_url, 2, "read")
    async with memoizing(settings, db_url) as (api, http, reader):
        before = fast_answers()
        async with api.client() as anonymous:
            assert (await anonymous.get(PATH)).json()["error"] == "unauthorized"
        async with api.client("pmsb_0000000000000000_" + "x" * 43) as wrong:
            assert (await wrong.get(PATH)).status_code == 401
        async with api.client(other_hotel) as neighbour:
            hidden = await neighbour.get(PATH)
            assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
        cases = {
            f"{PATH}&colour=blue": 400,  # unknown parameter
            f"{PATH}&plan_id=0": 400,  # out of bounds
            f"{P}/availability/1?start_date={END}&end_date={START}": 400,  # reversed
            f"{P}/availability/1?start_date={START}": 400,  # end missing
            f"{P}/availability/01?start_date={START}&end_date={END}": 200,  # Litestar's int
        }
        for path, code in cases.items():
            reply = await http.get(path)
            assert reply.status_code == code, (path, reply.text)
        async with api.client(headers={"X-API-Key": reader}) as by_header:
            assert (await by_header.get(PATH)).status_code == 200
        # Only the X-API-Key call was complete, valid and memoized.
        assert fast_answers() == before + 1


async def test_repeated_accept_encoding_headers_are_read_as_the_app_reads_them(
    settings: Settings, db_url: str
) -> None:
    async with memoizing(settings, db_url) as (api, http, _):
        for first, second in (("gzip", "identity"), ("identity", "gzip")):
            headers = [("Accept-Encoding", first), ("Accept-Encoding", second)]
            api.ctx.availability_memo.clear()
            routed_reply = await http.get(PATH, headers=headers)
            before = fast_answers()
            fast_reply = await http.get(PATH, headers=headers)
            assert fast_answers() == before + 1
            assert routed_reply.headers.get("content-encoding") == fast_reply.headers.get(
                "content-encoding"
            )
            assert fast_reply.content == routed_reply.content


async def test_an_unreadable_key_store_is_503_on_both_paths(
    settings: Settings, db_url: str
) -> None:
    """A memoized answer, a key not yet cached, and the database out of reach: the fast
    path answers the app's 503 itself (the app would only wait for the pool again)."""
    unseen = await create_key(db_url, 1, "read")
    async with memoizing(settings, db_url) as (api, _, _), api.client(unseen) as newcomer:
        closed: AsyncConnectionPool[Any] = AsyncConnectionPool(db_url, open=False)
        api.ctx.keys = KeyStore(closed)
        replies = []
        before = fast_answers("503")
        for memoized in (True, False):
            if not memoized:
                api.ctx.availability_memo.clear()
            replies.append(await newcomer.get(PATH))
        fast, routed_reply = replies
        assert fast_answers("503") == before + 1  # the first one, not the second
    assert fast.status_code == routed_reply.status_code == 503
    assert (
        fast.json()
        == routed_reply.json()
        == {"error": "unavailable", "detail": "a dependency (database or cache) is unreachable"}
    )
    assert fast.headers["retry-after"] == routed_reply.headers["retry-after"] == "5"


async def test_fast_answers_are_rate_limited_and_audited(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "read")
    limits = "read=0.2:3,book=50:50,admin=50:50,auth=50:50"
    async with (
        running_api(settings, MemoryCache(), rate_limits=limits, run_bridge=True) as api,
        api.client(key) as http,
    ):
        bridge = api.ctx.bridge
        for _ in range(100):  # an upper bound on waiting for capture, not a timing assertion
            if bridge is not None and bridge.connected:
                break
            await asyncio.sleep(0.1)
        limited_before = fast_answers("429")
        replies = [await http.get(PATH) for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        refused = replies[3]
        assert fast_answers("429") == limited_before + 1
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["content-type"] == "application/json"
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, action, entity_id, status, request_data->>'route',"
            " request_data->>'key_id', response_data->>'status_code', error_message"
            " FROM booking_engine_audit_log ORDER BY id"
        )
        rows = await cur.fetchall()
    key_id = key.split("_")[1]
    assert [r[:7] for r in rows] == [
        *[(1, "availability.read", "1", "ok", ROUTE, key_id, "200")] * 3,
        # Refused before the handler would run: audited as the route, as the app does.
        (1, f"GET {ROUTE}", None, "rejected", ROUTE, key_id, "429"),
    ]
    assert rows[3][7] is not None and rows[3][7].startswith("rate_limited")


async def test_a_change_applied_by_the_bridge_retires_the_fast_answer(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(key) as http,
    ):
        bridge = api.ctx.bridge
        assert bridge is not None

        def night_of(reply: httpx.Response) -> int:
            kinds = {t["room_type_id"]: t["nights"] for t in reply.json()["room_types"]}
            return int(kinds[type_id][0]["available"])

        await answered_fast(http)
        assert night_of(await http.get(PATH)) > 1
        counted = bridge.applied
        await fill_all_but(db_url, 1, type_id, [START], keep=1)
        for _ in range(300):  # an upper bound on waiting for capture, not a timing assertion
            if bridge.applied > counted:
                break
            await asyncio.sleep(0.1)
        # A few more changes may still be on their way; the answer follows the last of them.
        for _ in range(100):
            if night_of(await http.get(PATH)) == 1:
                break
            await asyncio.sleep(0.1)
        assert night_of(await http.get(PATH)) == 1


async def test_answers_from_before_a_capture_reconnection_are_not_sent(
    settings: Settings, db_url: str
) -> None:
    async with memoizing(settings, db_url) as (api, http, _):
        bridge = api.ctx.bridge
        assert bridge is not None
        opened = bridge.connections
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'pms-bridge'"
            )
        for _ in range(300):  # an upper bound on waiting for the reconnection, not a timing
            if bridge.connections > opened and bridge.connected:
                break
            await asyncio.sleep(0.1)
        assert bridge.connections > opened and bridge.connected
        before = fast_answers()
        assert (await http.get(PATH)).status_code == 200
        assert fast_answers() == before  # the memoized answer predates the reconnection
        await answered_fast(http)


async def test_hotel_answers_are_sent_at_the_entry_as_the_app_sends_them(
    settings: Settings, db_url: str
) -> None:
    other_hotel = await create_key(db_url, 2, "read")
    hotel = f"{P}/hotels/1"
    async with memoizing(settings, db_url) as (api, http, _):
        api.ctx.catalog_memo.clear()
        before = fast_answers(route=HOTEL_ROUTE)
        routed_reply = await http.get(hotel)  # Litestar, memoized from here on
        fast_reply = await http.get(hotel)
        assert routed_reply.status_code == fast_reply.status_code == 200
        assert fast_answers(route=HOTEL_ROUTE) == before + 1
        assert fast_reply.content == routed_reply.content
        assert stable(fast_reply) == stable(routed_reply)
        assert "vary" not in fast_reply.headers and fast_reply.json()["hotel_id"] == 1
        # Not answered at the entry: a query string, another path below it, another hotel.
        assert (await http.get(hotel, params={"lang": "en"})).status_code == 400  # takes none
        assert (await http.get(f"{hotel}/images")).status_code == 200
        async with api.client(other_hotel) as neighbour:
            assert (await neighbour.get(hotel)).status_code == 404
        assert fast_answers(route=HOTEL_ROUTE) == before + 1


async def test_the_protocol_answers_plain_calls_and_leaves_the_rest_to_the_asgi_cycle(
    settings: Settings, db_url: str
) -> None:
    """A plain keep-alive GET is answered by the HTTP protocol without an ASGI cycle; one that
    closes its connection, is HTTP/1.0 or carries a body header gets its cycle, and the entry
    answers it. Pipelined, every answer comes back in order, each the same answer."""
    async with memoizing(settings, db_url) as (api, _, key):
        host, port = api.url.removeprefix("http://").split(":")
        auth = f"Authorization: Bearer {key}\r\n"
        plain = f"GET {PATH} HTTP/1.1\r\nHost: t\r\n{auth}\r\n"
        calls = [
            ("protocol", plain),
            ("app", "GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"),
            ("protocol", plain),
            ("entry", f"GET {PATH} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n{auth}\r\n"),
            ("protocol", plain),
            ("entry", f"GET {PATH} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{auth}\r\n"),
        ]
        before = {at: fast_answers(at=at) for at in ("protocol", "entry")}
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write("".join(request for _, request in calls).encode())
        answers = [await read_response(reader) for _ in calls]
        assert await reader.read() == b""  # closed after the last, as it asked
        writer.close()
        # HTTP/1.0 closes after its answer too.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET {PATH} HTTP/1.0\r\n{auth}\r\n".encode())
        old = await read_response(reader)
        writer.close()
        after = {at: fast_answers(at=at) for at in ("protocol", "entry")}
    assert after == {"protocol": before["protocol"] + 3, "entry": before["entry"] + 3}
    assert [status for status, _, _ in answers] == [200] * len(calls)
    reads = [answer for (kind, _), answer in zip(calls, answers, strict=True) if kind != "app"]
    assert len({body for _, _, body in [*reads, old]}) == 1  # one answer, however sent
    first = stable_raw(reads[0][1])
    assert all(stable_raw(headers) == first for _, headers, _ in reads[1:-1])
    assert reads[-1][1]["connection"] == "close" and "connection" not in reads[0][1]
    remaining = [int(headers["ratelimit-remaining"]) for _, headers, _ in reads]
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == len(reads)


def stable_raw(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_CALL}


async def test_a_long_pipeline_behind_an_asgi_call_is_answered_in_order(
    settings: Settings, db_url: str
) -> None:
    """A thousand memoized calls pipelined behind one the app answers, alternating between two
    questions: once the app's answer is out, they are all answered ahead of Litestar (by the
    protocol, or at the entry while the key's record is re-read), in order, each the answer
    to its own question."""
    in_process = msgspec.structs.replace(settings, redis_url=None)
    other = PATH.replace(f"end_date={END}", f"end_date={END - timedelta(days=1)}")
    async with memoizing(in_process, db_url) as (api, http, key):
        memoized = await http.get(other)  # from Litestar, and memoized from here on
        assert memoized.status_code == 200
        host, port = api.url.removeprefix("http://").split(":")
        asks = [PATH, other] * 500
        pipelined = "".join(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\r\n"
            for path in asks
        )
        before = fast_answers()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n" + pipelined.encode())
        first = await read_response(reader)
        answers = [await read_response(reader) for _ in asks]
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        last = await read_response(reader)  # the connection is still served
        writer.close()
        served = fast_answers() - before
    assert first[0] == last[0] == 200 and json.loads(first[2]) == json.loads(last[2])
    assert {status for status, _, _ in answers} == {200}
    ends = [json.loads(body)["end_date"] for _, _, body in answers]
    assert ends == [str(END), str(END - timedelta(days=1))] * 500
    assert served == 1000


async def test_a_memoized_answer_for_nights_the_window_has_left_goes_to_the_app(
    settings: Settings, db_url: str
) -> None:
    """The window moves at midnight: a range memoized inside it, asked again once its first
    night has fallen out, is refused as the app refuses it, not sent from the memo."""
    async with memoizing(settings, db_url) as (api, http, _):
        await answered_fast(http)
        # Today moved on so far that the window's first night is the day after START.
        ahead = timedelta(days=(START - date.today()).days + settings.horizon_days_back + 1)
        moved = HotelClock(None, {}, now=lambda: datetime.now(UTC) + ahead)
        api.ctx.horizon = Horizon(settings.horizon_days_back, settings.horizon_days_ahead, moved)
        before = fast_answers()
        refused = await http.get(PATH)
        assert fast_answers() == before
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_range"
