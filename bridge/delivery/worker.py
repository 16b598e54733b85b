"""Delivery worker: sends due webhook events, in order per reservation, concurrently across them.

State lives in PostgreSQL (pms_bridge.delivery_events, booking_sync_status), so a crash at
any point loses nothing: an event not marked delivered is sent again, with the same
Idempotency-Key and the same body. One process delivers at a time (an advisory lock); it
wakes on NOTIFY from the enqueueing stage, and polls as a backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import msgspec
import psycopg

from bridge.config import Settings, require_database, secret_key
from bridge.db import connect, fetch_all, fetch_value
from bridge.delivery.destination import CheckedTransport, DestinationRefused
from bridge.delivery.sealing import SealError, unseal
from bridge.delivery.signing import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    LEGACY_SIGNATURE_HEADER,
    sign,
    standard_headers,
)
from bridge.outage import DATABASE_DOWN
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.delivery")
# httpx logs every request at INFO: at webhook rates that drowns everything else.
logging.getLogger("httpx").setLevel(logging.WARNING)

# 4xx answers that say "try again later" rather than "this request is wrong".
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
# Answers that say the endpoint itself is down, not that this event is unwelcome.
ENDPOINT_DOWN = frozenset({502, 503, 504})
RECOVERABLE: tuple[type[Exception], ...] = (*DATABASE_DOWN, OSError)
# What ends a delivery session (then restarted after a pause) rather than the whole process.
SESSION_ERRORS = (psycopg.Error, OSError)


class DueEvent(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    hotel_id: int
    booking_id: uuid.UUID
    attempts: int
    occurred_at: datetime
    body: str
    url: str
    secret: str
    # The secret being rotated out, while it still signs (booking_engine_config).
    previous_secret: str | None


class Outcome(msgspec.Struct, frozen=True):
    """What one attempt came to: delivered, or an error and whether retrying can help."""

    delivered: bool
    retryable: bool = True
    error: str | None = None
    booking_engine_id: str | None = None
    # Unreachable, timed out or 502/503/504: every event of the hotel would meet the same.
    endpoint_down: bool = False


class DeliveryStats(msgspec.Struct):
    """This process's attempt counts (the database holds the durable ones)."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base * 2^(attempt-1))."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(ceiling * random.uniform(0.5, 1.0))


# What of an answer is read: enough for the acknowledgement's id, never a flood in memory.
MAX_ANSWER_BYTES = 16 * 1024
# The booking engine's id for a booking is kept and shown to the hotel; anything else the
# destination answers is neither stored, logged nor returned (it may be another service's).
_ENGINE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def _engine_id(content_type: str, content: bytes) -> str | None:
    if "json" not in content_type:
        return None
    try:
        data = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return None
    if isinstance(data, dict):
        value = data.get("booking_engine_id", data.get("id"))
        text = None if value is None else str(value)
        return text if text is not None and _ENGINE_ID.fullmatch(text) else None
    return None


async def _head_of(response: httpx.Response) -> bytes:
    content = b""
    async for part in response.aiter_bytes():
        content += part
        if len(content) >= MAX_ANSWER_BYTES:
            break
    return content


class DeliveryWorker:
    """Runs until stopped; `concurrency` bounds the requests in flight (one per reservation)."""

    def __init__(
        self,
        database_url: str,
        *,
        concurrency: int = 8,
        max_attempts: int = 8,
        retry_for: float = 86400.0,
        timeout: float = 10.0,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        poll_interval: float = 1.0,
        keep_delivered_days: int = 7,
        allow_loopback_http: bool = False,
        secret_key: bytes | None = None,
    ) -> None:
        self.database_url = database_url
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.retry_for = retry_for
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self.keep_delivered_days = keep_delivered_days
        self.allow_loopback_http = allow_loopback_http
        self.secret_key = secret_key
        self._next_prune = 0.0
        self.stats = DeliveryStats()
        self._in_flight: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Due heads fetched ahead (one per reservation, none in flight): one query per
        # several deliveries instead of one per finished request.
        self._backlog: deque[DueEvent] = deque()
        self._wake = asyncio.Event()
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryWorker:
        return cls(
            require_database(settings),
            concurrency=settings.delivery_concurrency,
            max_attempts=settings.delivery_max_attempts,
            retry_for=settings.delivery_retry_for,
            timeout=settings.delivery_timeout,
            max_delay=settings.delivery_max_delay,
            poll_interval=max(settings.poll_interval, 0.5),
            allow_loopback_http=settings.webhook_allow_loopback_http,
            secret_key=secret_key(settings),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; reconnects after losing the database."""
        pause = 0.5
        while not stop.is_set():
            try:
                await self._serve(stop)
                pause = 0.5
            except SESSION_ERRORS as exc:
                log.warning("delivery stopped (%s); starting again in %.1fs", exc, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                pause = min(pause * 2, 10.0)

    async def _serve(self, stop: asyncio.Event) -> None:
        self._backlog.clear()
        listen = await connect(self.database_url, autocommit=True)
        try:
            while not stop.is_set():
                if await fetch_value(listen, query("delivery_lock")):
                    break
                with contextlib.suppress(TimeoutError):  # another process delivers; stand by
                    await asyncio.wait_for(stop.wait(), 2.0)
            if stop.is_set():
                return
            await listen.execute(query("delivery_listen"))
            listener = asyncio.create_task(self._listen(listen, stop))
            self._conn = await connect(self.database_url, autocommit=True)
            transport = CheckedTransport(
                allow_loopback_http=self.allow_loopback_http,
                max_connections=self.concurrency * 2,
            )
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=transport, follow_redirects=False, trust_env=False
            ) as client:
                try:
                    while not stop.is_set():
                        if listener.done():
                            listener.result()  # the lock's session is gone: start over
                            break
                        await self._prune()
                        started = await self.step(client)
                        if started == 0:
                            await self._sleep(stop)
                finally:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
                    await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        finally:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
            await listen.close()

    async def _prune(self) -> None:
        now = time.monotonic()
        if self._conn is None or now < self._next_prune:
            return
        self._next_prune = now + 3600
        await self._conn.execute(query("delivery_prune"), {"days": self.keep_delivered_days})

    async def _listen(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        async for _ in conn.notifies():
            self._wake.set()
            if stop.is_set():
                return

    async def _sleep(self, stop: asyncio.Event) -> None:
        """Until a NOTIFY, a finished request, the next due retry, stop, or the poll interval."""
        wait = self.poll_interval
        conn = self._conn
        if conn is not None and not self._in_flight:
            due_in = await fetch_value(conn, query("delivery_next_due"))
            if due_in is not None:
                wait = max(0.01, min(wait, float(due_in)))
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def step(self, client: httpx.AsyncClient) -> int:
        """Start deliveries for due events up to the concurrency bound; returns how many."""
        conn = self._conn
        room = self.concurrency - len(self._in_flight)
        if conn is None or room <= 0:
            return 0
        if len(self._backlog) < room:
            busy = [*self._in_flight, *(e.booking_id for e in self._backlog)]
            params = {"in_flight": busy, "limit": self.concurrency * 4}
            self._backlog.extend(await fetch_all(conn, DueEvent, query("delivery_due"), params))
        started = 0
        while self._backlog and started < room:
            event = self._backlog.popleft()
            task = asyncio.create_task(self._deliver(client, event))
            self._in_flight[event.booking_id] = task
            task.add_done_callback(self._done_callback(event.booking_id))
            started += 1
        return started

    def _done_callback(self, booking_id: uuid.UUID) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(booking_id, None)
            self._wake.set()

        return done

    async def _deliver(self, client: httpx.AsyncClient, event: DueEvent) -> None:
        try:
            previous = event.previous_secret
            opened = msgspec.structs.replace(
                event,
                secret=unseal(self.secret_key, event.hotel_id, event.secret),
                previous_secret=previous and unseal(self.secret_key, event.hotel_id, previous),
            )
        except SealError as exc:
            # Retried: setting the key (or the secret again) mends it.
            outcome = Outcome(False, True, f"webhook secret: {exc}")
        else:
            outcome = await self.attempt(client, opened)
        conn = self._conn
        if conn is None:
            return
        try:
            await self._record(conn, event, outcome)
        except SESSION_ERRORS as exc:
            # The event stays pending in the database and is sent again after reconnecting.
            log.warning("could not record delivery of %s: %s", event.event_id, exc)

    async def attempt(self, client: httpx.AsyncClient, event: DueEvent) -> Outcome:
        """One POST of the event, signed, with its Idempotency-Key."""
        body = event.body.encode()
        event_id = str(event.event_id)
        secrets = [event.secret, *([event.previous_secret] if event.previous_secret else [])]
        try:
            # webhook-id is the event id, the same on every attempt; the timestamp is the
            # attempt's, as receivers refuse one older than their tolerance.
            signed = standard_headers(secrets, event_id, int(time.time()), body)
            legacy = sign(event.secret, body)
        except ValueError as exc:
            return Outcome(False, True, f"hotel {event.hotel_id}: {exc}")
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: event_id,
            EVENT_HEADER: event_id,
            **signed,
            LEGACY_SIGNATURE_HEADER: legacy,
            "User-Agent": "pms-bridge",
        }
        # Errors keep a class and a status code only: an exception's text or an answer's body
        # can carry what the destination said, and they end up in booking_sync_status, the
        # log and GET /bookings/{id}. A bad or refused booking_engine_url is retried too:
        # fixing the config row mends it.
        try:
            async with client.stream("POST", event.url, content=body, headers=headers) as response:
                if not response.is_success:
                    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_4XX
                    down = response.status_code in ENDPOINT_DOWN
                    error = f"HTTP {response.status_code}"
                    return Outcome(False, retryable, error, endpoint_down=down)
                content = await _head_of(response)
                engine_id = _engine_id(response.headers.get("content-type", ""), content)
        except httpx.TimeoutException:
            return Outcome(False, True, f"timeout after {self.timeout:g}s", endpoint_down=True)
        except DestinationRefused as exc:
            return Outcome(False, True, f"refused destination: {exc}", endpoint_down=True)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            return Outcome(False, True, type(exc).__name__, endpoint_down=True)
        return Outcome(True, booking_engine_id=engine_id)

    def _spent(self, event: DueEvent, attempt: int) -> bool:
        """Both budgets used: max_attempts tries, and retry_for seconds since the change."""
        age = time.time() - event.occurred_at.timestamp()
        return attempt >= self.max_attempts and age >= self.retry_for

    async def _record(
        self, conn: psycopg.AsyncConnection[Any], event: DueEvent, outcome: Outcome
    ) -> None:
        attempt = event.attempts + 1
        if outcome.delivered:
            await conn.execute(
                query("delivery_mark_delivered"),
                {"event_id": event.event_id, "booking_engine_id": outcome.booking_engine_id},
            )
            self.stats.delivered += 1
            m.deliveries.labels(outcome="delivered").inc()
            m.delivery_latency.observe(max(time.time() - event.occurred_at.timestamp(), 0.0))
            if event.attempts:
                # The endpoint answers again: what waited out its outage need not wait longer.
                await conn.execute(query("delivery_hotel_recovered"), {"hotel_id": event.hotel_id})
        elif outcome.retryable and not self._spent(event, attempt):
            delay = backoff(attempt, self.base_delay, self.max_delay)
            await conn.execute(
                query("delivery_mark_retry"),
                {"event_id": event.event_id, "error": outcome.error, "delay": delay},
            )
            if outcome.endpoint_down:
                # One probe per backoff period instead of one per reservation: the hotel's
                # other events wait as long as this one.
                await conn.execute(
                    query("delivery_hotel_hold"), {"hotel_id": event.hotel_id, "delay": delay}
                )
                self._backlog = deque(e for e in self._backlog if e.hotel_id != event.hotel_id)
            self.stats.retried += 1
            m.deliveries.labels(outcome="retry").inc()
        else:
            await conn.execute(
                query("delivery_mark_failed"), {"event_id": event.event_id, "error": outcome.error}
            )
            self.stats.failed += 1
            m.deliveries.labels(outcome="failed").inc()
            m.delivery_failed.inc()
            log.warning(
                "delivery of %s for booking %s failed for good: %s",
                event.event_id,
                event.booking_id,
                outcome.error,
            )
