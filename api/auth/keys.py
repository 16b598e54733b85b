"""API keys: generation, hashing, lookup with a short in-process cache, batched last_used_at."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from psycopg_pool import AsyncConnectionPool

from bridge.db import fetch_one
from bridge.sql import query

log = logging.getLogger("pms_bridge.api.keys")

PREFIX = "pmsb"
SCOPES = ("read", "book", "admin", "operator")
# Each scope includes the ones before it: a booking key can read, an admin key can book.
# An operator's key is an admin key whose admin calls reach every hotel (the dead-letter
# tools); its booking-engine calls stay within its own hotel.
IMPLIED: dict[str, tuple[str, ...]] = {
    "read": ("read",),
    "book": ("read", "book"),
    "admin": ("read", "book", "admin"),
    "operator": ("read", "book", "admin", "operator"),
}
_KEY = re.compile(r"^pmsb_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})$")
# A key id alone, as /auth/user/{user_id} takes it.
KEY_ID = re.compile(r"[0-9a-f]{16}")
# Revoking or expiring a key takes effect within this many seconds on every replica: no
# record older than this is ever used.
RECORD_TTL_SECONDS = 5.0
# A record in use is re-read once this share of its life has passed, while callers go on
# with it, so a busy key is never waited for.
REFRESH_AT = 0.6
# A caller waits at most this long for a connection to read its key: with the database out
# of reach the pool would otherwise hold the call for its default 30 s before the 503.
READ_TIMEOUT = 5.0
TOUCH_INTERVAL_SECONDS = 5.0
# Key ids that match no key, remembered apart from the real ones so a flood of made-up keys
# neither reaches the database again nor pushes a real key's record out.
UNKNOWN_REMEMBERED = 10_000


class KeyRecord(msgspec.Struct, frozen=True):
    id: int
    key_id: str
    hotel_id: int
    key_hash: str
    scopes: tuple[str, ...]
    is_active: bool
    expires_at: datetime | None
    expired: bool


class NewKey(msgspec.Struct, frozen=True):
    key_id: str
    key: str
    key_hash: str


def hash_key(key: str) -> str:
    # The secret part carries 256 bits of entropy, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(key.encode()).hexdigest()


def generate() -> NewKey:
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, key, hash_key(key))


def key_id_of(key: str) -> str | None:
    match = _KEY.match(key)
    return match[1] if match else None


class _KeyRow(msgspec.Struct, frozen=True):
    """booking_engine_api_keys as api_key_lookup and api_key_by_id read it."""

    id: int
    key_id: str
    hotel_id: int
    api_key_hash: str
    scopes: list[str] | None
    is_active: bool | None
    expires_at: datetime | None
    expired: bool | None
    # Until the key expires (api_key_lookup only; None for a key that never does).
    seconds_left: float | None = None


def _record(row: _KeyRow) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        key_id=row.key_id,
        hotel_id=row.hotel_id,
        key_hash=row.api_key_hash,
        scopes=tuple(row.scopes or ()),
        is_active=bool(row.is_active),
        expires_at=row.expires_at,
        expired=bool(row.expired),
    )


def _genuine(key: str, record: KeyRecord | None) -> KeyRecord | None:
    if record is None:
        hmac.compare_digest(hash_key(key), hash_key(key))
        return None
    return record if hmac.compare_digest(hash_key(key), record.key_hash) else None


class _Cached(NamedTuple):
    refresh_at: float  # from here a re-read starts; callers go on with the record
    usable_until: float  # past this the record is not used: callers wait for the re-read
    record: KeyRecord | None


class KeyStore:
    """Resolves keys to records; no record is used longer than RECORD_TTL_SECONDS after it
    was read, nor past its key's expiry."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        record_ttl: float = RECORD_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._record_ttl = record_ttl
        self._clock = clock
        self._records: dict[str, _Cached] = {}
        # key id -> when it is looked up again; oldest first, the first to go when full.
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._reading: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._used: set[int] = set()
        self._flusher: asyncio.Task[None] | None = None

    def _known_unknown(self, key_id: str, now: float) -> bool:
        until = self._unknown.get(key_id)
        if until is None:
            return False
        if now < until:
            return True
        del self._unknown[key_id]
        return False

    def unknown_ids(self) -> Iterator[str]:
        """The key ids remembered as matching no key (for the operator's eyes and tests)."""
        return iter(list(self._unknown))

    def current(self, key_id: str) -> KeyRecord | None:
        """The cached record while it needs no re-read, else None (by_key_id decides then)."""
        cached = self._records.get(key_id)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.record
        return None

    async def by_key_id(self, key_id: str) -> KeyRecord | None:
        """The cached record. A busy key's record is re-read ahead of its end by one request
        while the others go on with it (when every busy key's record ended at once under
        load, each of its callers queued for a pool connection, hundreds of milliseconds at
        100 connections); past its end, callers wait for that one re-read."""
        current = self.current(key_id)
        if current is not None:
            return current
        cached = self._records.get(key_id)
        now = self._clock()
        if cached is None and self._known_unknown(key_id, now):
            return None
        reading = self._reading.get(key_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read(key_id))
            self._reading[key_id] = reading
            reading.add_done_callback(lambda done: self._read_done(key_id, done))
        if cached is not None and now < cached.usable_until:
            return cached.record
        return await asyncio.shield(reading)

    def _read_done(self, key_id: str, done: asyncio.Future[KeyRecord | None]) -> None:
        self._reading.pop(key_id, None)
        if not done.cancelled() and done.exception() is not None:
            # Callers waiting on it get the error; a refresh nobody waited on is only logged.
            log.warning("API key %s could not be re-read: %s", key_id, done.exception())

    async def _read(self, key_id: str) -> KeyRecord | None:
        async with self._pool.connection(timeout=READ_TIMEOUT) as conn:
            # Aged from before the query (the row is read at some moment after this), not
            # from before the wait for a connection, which would shorten its life under load.
            started = self._clock()
            row = await fetch_one(conn, _KeyRow, query("api_key_lookup"), {"key_id": key_id})
        record = _record(row) if row else None
        life = self._record_ttl
        if row is not None and not row.expired and row.seconds_left is not None:
            # A key that expires sooner is re-read when it does.
            life = min(life, row.seconds_left)
        if record is None:
            # A key deleted since it was read is forgotten; the made-up ones are bounded.
            self._records.pop(key_id, None)
            self._unknown[key_id] = started + life
            self._unknown.move_to_end(key_id)
            while len(self._unknown) > UNKNOWN_REMEMBERED:
                self._unknown.popitem(last=False)
            return None
        # Only keys that exist are held here: as many as the table has rows.
        self._unknown.pop(key_id, None)
        self._records[key_id] = _Cached(started + life * REFRESH_AT, started + life, record)
        return record

    async def by_id(self, id_: int) -> KeyRecord | None:
        async with self._pool.connection(timeout=READ_TIMEOUT) as conn:
            row = await fetch_one(conn, _KeyRow, query("api_key_by_id"), {"id": id_})
        return _record(row) if row else None

    async def verify(self, key: str) -> KeyRecord | None:
        """The key's record if the key is genuine (constant-time hash compare), else None."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        return _genuine(key, await self.by_key_id(key_id))

    def touch(self, record: KeyRecord) -> None:
        self._used.add(record.id)

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="api-key-touch")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.reads_done()
        await self.flush()

    async def reads_done(self) -> None:
        """Until the re-reads in flight have ended (their errors are logged, not raised)."""
        while self._reading:
            await asyncio.gather(*self._reading.values(), return_exceptions=True)

    async def flush(self) -> None:
        if not self._used:
            return
        ids, self._used = sorted(self._used), set()
        try:
            async with self._pool.connection() as conn:
                await conn.execute(query("api_key_touch"), {"ids": ids})
        except Exception as exc:
            log.warning("could not record last_used_at for %d keys: %s", len(ids), exc)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(TOUCH_INTERVAL_SECONDS)
            await self.flush()
