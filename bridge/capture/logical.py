"""Logical capture: streams the pgoutput slot and hands the bridge whole committed transactions.

Exactly-once effect: a batch's position is the end LSN of its last commit. The pipeline saves
it as the checkpoint in the apply transaction; only after that commit does `acknowledge`
report it to the server as flushed. After a crash the server replays from the last flushed
position, and transactions ending at or before the checkpoint are dropped here.

The slot is created on the first start, exporting a snapshot: `on_snapshot` (given by the
service) rebuilds the caches inside a transaction that imported it, before streaming starts,
so the stream begins exactly where the snapshot ends.

A slot that is missing although the bridge has a checkpoint, or that the server invalidated
(its WAL removed past max_slot_wal_keep_size, or a conflict on a standby), cannot give back
what was committed since the checkpoint. The source says so in one log line, counts it,
makes the slot anew the first-start way (caches rebuilt from its snapshot) and sets
`capture_gap_since` to the checkpoint's commit time, from which reconciliation repairs what
the caches cannot: what the booking engine and booking_sync_status were not told. It never
retries START_REPLICATION on a slot that cannot come back.

Heartbeats (bridge/heartbeat.py) are transactional logical messages: they come back between
Begin and Commit, in `Batch.heartbeats`, and confirming their commit moves the slot while
the watched tables are idle.

Streamed transactions (protocol 2, PostgreSQL 14+) are buffered until their Stream Commit
and dropped on Stream Abort: the bridge applies committed transactions only, so streaming
moves the spill of a large transaction from the server's disk into this process, in
exchange for the server not re-reading it and the commit arriving without delay.

A reader task decodes the stream ahead while the bridge applies the batch in hand (waiting on
PostgreSQL most of that time), up to one batch ahead; `next_batch` takes what it has ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq, sql

from bridge import heartbeat
from bridge.capture import slot as slots
from bridge.capture.install import primary_keys
from bridge.capture.pgoutput import (
    KEEPALIVE,
    XLOG_DATA,
    Begin,
    Commit,
    Decoder,
    Delete,
    Insert,
    LogicalMessage,
    ProtocolError,
    Relation,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    Update,
    standby_status,
)
from bridge.changes import Batch, Change
from bridge.config import Settings
from bridge.db import connect, fetch_value
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.capture.logical")

SnapshotHook = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]

# The server drops a silent client after wal_sender_timeout (60 s by default).
STATUS_INTERVAL = 5.0
# How often a running source looks for partitions the PMS created without REPLICA IDENTITY
# FULL (a change arriving without its old row makes it look at once).
IDENTITY_CHECK_INTERVAL = 30.0

Pending = Insert | Update | Delete | Truncate


class _Transaction:
    """One transaction being received: its changes, or its raw messages while streamed."""

    __slots__ = ("changes", "committed_at", "heartbeats", "streamed", "xid")

    def __init__(self, xid: int, committed_at: datetime | None) -> None:
        self.xid = xid
        self.committed_at = committed_at
        self.changes: list[Change] = []
        self.streamed: list[Pending] = []
        # Heartbeat payloads, turned into Heartbeats at the commit (which gives their time).
        self.heartbeats: list[bytes] = []


class LogicalSource:
    name = "logical"
    reads_ahead = True

    def __init__(
        self, database_url: str, settings: Settings, *, on_snapshot: SnapshotHook | None = None
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self.slot = slots.check_name("slot", settings.slot_name)
        self.publication = slots.check_name("publication", settings.publication_name)
        self.tables = settings.watched_tables
        self.batch_size = settings.batch_size
        self.poll_interval = settings.poll_interval
        self.on_snapshot = on_snapshot
        self.checkpoint = 0
        self.snapshot_taken: str | None = None
        # Set when the slot had to be made anew after the bridge had a checkpoint: the commit
        # time from which changes were not captured. The runner hands it to reconciliation
        # and clears it once that ran; it survives reconnections until then.
        self.capture_gap_since: datetime | None = None
        # Why the slot was last made anew ("missing" or "lost"), for tests and the status.
        self.slot_recreated: str | None = None
        self._ready_heartbeats: list[heartbeat.Heartbeat] = []
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._repl: psycopg.AsyncConnection[Any] | None = None
        self._decoder = Decoder()
        self._keys: dict[str, tuple[str, ...]] = {}
        self._tx: _Transaction | None = None
        self._streams: dict[int, _Transaction] = {}
        self._ready: list[Change] = []
        self._ready_position = 0
        self._tx_position = 0
        self._stream_xid = 0
        self._confirmed = 0
        self._reported = 0
        self._last_status = 0.0
        self._caught_up_at = time.monotonic()
        # Tables whose gap was logged since their partitions were last set to FULL.
        self._warned_identity: set[str] = set()
        self.identity_check_interval = IDENTITY_CHECK_INTERVAL
        self._identity_checked = 0.0
        self._lag_warned = False
        self._unacknowledged: int | None = None
        self._reader: asyncio.Task[None] | None = None
        # Set by the reader when a transaction is ready and when a whole batch is, by `_take`
        # when it may read on.
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        # The reader (keepalive replies) and the bridge (acknowledgements) both send statuses.
        self._sending = asyncio.Lock()

    # Connection ----------------------------------------------------------------------------

    async def open(self, checkpoint: int | None, *, captured_until: datetime | None = None) -> None:
        self.checkpoint = checkpoint or 0
        self._decoder = Decoder()
        self._tx = None
        self._streams.clear()
        self._ready = []
        self._ready_heartbeats = []
        self._ready_position = 0
        self._unacknowledged = None
        # The checkpoint's effects are committed: confirming it at once closes the window of
        # a crash between the apply commit and the acknowledgement.
        self._confirmed = self.checkpoint
        self._reported = 0
        self._conn = await connect(self.database_url, autocommit=True)
        version = await slots.prepare(self._conn, self.publication, self.tables)
        self._identity_checked = time.monotonic()
        self._keys = await primary_keys(self._conn, self.tables)
        slots.check_failover(self.settings.slot_failover, version)
        self._repl = await slots.replication_connection(self.database_url)
        health = await slots.slot_health(self._conn, self.slot, version)
        try:
            await self._ensure_slot(version, health, checkpoint, captured_until)
            await self._start(version)
        except slots.SlotLost as exc:
            # The server refused to stream from a slot that looked sound a moment ago (it was
            # invalidated in between): made anew once, never retried as it is.
            await self._repl.close()
            self._repl = await slots.replication_connection(self.database_url)
            health = await slots.slot_health(self._conn, self.slot, version)
            await self._ensure_slot(version, health, checkpoint, captured_until, lost=str(exc))
            await self._start(version)
        self._arrived.clear()
        self._full.clear()
        self._room.set()
        self._reader = asyncio.create_task(self._read_ahead(), name=f"logical-reader:{self.slot}")

    async def _ensure_slot(
        self,
        version: int,
        health: slots.SlotHealth | None,
        checkpoint: int | None,
        captured_until: datetime | None,
        *,
        lost: str | None = None,
    ) -> None:
        """The slot, made when missing or unusable; a capture gap recorded when the bridge
        had already captured through a slot that is gone."""
        reason: str | None = None
        if health is not None and (health.lost or lost is not None):
            reason = "lost"
            why = lost or health.why()
            if health.active:
                raise slots.LogicalSetupError(
                    f"slot {self.slot} is {why} but still in use by another process: stop it"
                )
            await self._connection().execute(query("logical_slot_drop"), {"slot": self.slot})
        elif health is None and checkpoint is not None:
            reason, why = "missing", "missing (dropped, or lost in a failover or a restore)"
        elif health is not None:
            if self.settings.slot_failover and health.failover is False:
                await slots.set_failover(self._repl_connection(), self.slot)
                log.info("slot %s is now a failover slot", self.slot)
            return
        if reason is not None and checkpoint is None:
            # Nothing was captured through it yet: a first start, with no gap to record.
            log.warning("replication slot %s was %s; making it anew", self.slot, why)
            m.slot_recreated.labels(reason=reason).inc()
            self.slot_recreated = reason
        elif reason is not None:
            since = captured_until.isoformat() if captured_until else "an unknown time"
            log.error(
                "replication slot %s was %s: changes committed since %s were not captured; "
                "making the slot anew, rebuilding the caches, and recording the gap for "
                "reconciliation",
                self.slot,
                why,
                since,
            )
            m.slot_recreated.labels(reason=reason).inc()
            self.slot_recreated = reason
            if self.capture_gap_since is None:
                self.capture_gap_since = captured_until
            # The old slot's positions mean nothing to the new one (after a restore or a
            # failover they may even be ahead of it): what the snapshot holds is applied.
            self.checkpoint = 0
            self._confirmed = 0
        created = await slots.create_slot(
            self._repl_connection(),
            self.slot,
            version,
            export_snapshot=self.on_snapshot is not None,
            failover=self.settings.slot_failover,
        )
        log.info("created slot %s at %s", self.slot, created.consistent_point)
        if created.snapshot is not None and self.on_snapshot is not None:
            await self._hand_off(created.snapshot)

    def _repl_connection(self) -> psycopg.AsyncConnection[Any]:
        if self._repl is None:
            raise psycopg.InterfaceError("LogicalSource.open() was not called")
        return self._repl

    async def _hand_off(self, snapshot: str) -> None:
        async with await connect(self.database_url) as conn:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            await slots.import_snapshot(conn, snapshot)
            assert self.on_snapshot is not None
            await self.on_snapshot(conn)
            await conn.commit()
        self.snapshot_taken = snapshot

    async def _start(self, version: int) -> None:
        options = [
            sql.SQL("proto_version {}").format(sql.Literal("2" if version >= 140000 else "1")),
            sql.SQL("publication_names {}").format(
                sql.Literal(sql.Identifier(self.publication).as_string(self._repl))
            ),
            sql.SQL("messages 'true'"),
        ]
        if version >= 140000:
            options.append(sql.SQL("streaming 'on'"))
        statement = sql.SQL("START_REPLICATION SLOT {} LOGICAL 0/0 ({})").format(
            sql.Identifier(self.slot), sql.SQL(", ").join(options)
        )
        pgconn = self._pgconn()
        pgconn.send_query(statement.as_bytes(self._repl))
        while True:
            await self._flush_out()
            if not pgconn.is_busy():
                break
            await self._wait(pgconn.socket, 30.0, write=False)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_BOTH:
            message = result.error_message.decode(errors="replace") if result else "no result"
            state = result.error_field(pq.DiagnosticField.SQLSTATE) if result else None
            if state == b"55000":
                # object_not_in_prerequisite_state: "can no longer get changes from
                # replication slot", an invalidated slot; waiting would not bring it back.
                raise slots.SlotLost(message.strip())
            raise psycopg.OperationalError(f"START_REPLICATION failed: {message.strip()}")
        await self._send_status(self._confirmed)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error, OSError, ValueError):
                await reader
        for conn in (self._repl, self._conn):
            if conn is not None:
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.close()
        self._repl = None
        self._conn = None

    def _pgconn(self) -> pq.abc.PGconn:
        if self._repl is None:
            raise psycopg.InterfaceError("LogicalSource.open() was not called")
        return self._repl.pgconn

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise psycopg.InterfaceError("LogicalSource.open() was not called")
        return self._conn

    async def _wait(self, fd: int, seconds: float, *, write: bool) -> bool:
        """Until the socket is readable (or writable); False on timeout."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        (loop.add_writer if write else loop.add_reader)(fd, wake)
        try:
            # Not wait_for: on 3.11 it can swallow a cancel that lands as the socket turns
            # ready, and the reader task would then outlive close().
            async with asyncio.timeout(seconds):
                await ready
            return True
        except TimeoutError:
            return False
        finally:
            (loop.remove_writer if write else loop.remove_reader)(fd)

    async def _flush_out(self) -> None:
        pgconn = self._pgconn()
        while pgconn.flush() == 1:
            await self._wait(pgconn.socket, 10.0, write=True)

    async def _send_status(self, lsn: int, *, reply: bool = False) -> None:
        pgconn = self._pgconn()
        async with self._sending:
            while pgconn.put_copy_data(standby_status(lsn, reply=reply)) == 0:
                await self._wait(pgconn.socket, 10.0, write=True)
            await self._flush_out()
            self._reported = max(self._reported, lsn)
            self._last_status = time.monotonic()

    # Reading ---------------------------------------------------------------------------------

    def _read(self) -> bytes | None:
        """The next CopyData payload already received, or None when none is complete yet."""
        pgconn = self._pgconn()
        size, data = pgconn.get_copy_data(1)
        if size > 0:
            return bytes(data)
        if size == 0:
            return None
        result = pgconn.get_result()
        message = result.error_message.decode(errors="replace").strip() if result else ""
        raise psycopg.OperationalError(f"replication stream ended: {message or 'copy done'}")

    def _idle(self) -> bool:
        return (
            self._tx is None
            and not self._streams
            and not self._ready
            and not self._ready_heartbeats
            and self._unacknowledged is None
        )

    async def _handle_frame(self, frame: bytes) -> None:
        kind = frame[0]
        if kind == 119:  # 'w' XLogData
            self._handle(frame[XLOG_DATA.size + 1 :])
        elif kind == 107:  # 'k' primary keepalive
            wal_end, _sent, reply = KEEPALIVE.unpack_from(frame, 1)
            if self._idle():
                # Nothing received is waiting to be applied: everything up to the server's
                # position is consumed, so the slot may move on (and free WAL).
                self._confirmed = max(self._confirmed, wal_end)
                self._caught_up_at = time.monotonic()
            if reply or self._confirmed > self._reported:
                await self._send_status(self._confirmed)
        else:
            raise ProtocolError(f"unknown replication frame {chr(kind)!r}")

    def _handle(self, data: bytes) -> None:
        message = self._decoder.decode(data)
        if isinstance(message, (Insert, Update, Delete, Truncate)):
            if message.xid is not None:
                self._streams[self._stream_xid].streamed.append(message)
            elif self._tx is None:
                raise ProtocolError(f"{type(message).__name__} outside a transaction")
            else:
                self._tx.changes.extend(self._changes(message, self._tx, self._tx_position))
        elif isinstance(message, LogicalMessage):
            if message.prefix != heartbeat.PREFIX or not message.transactional:
                return  # another tool's message: nothing for the bridge
            if message.xid is not None:
                self._streams[self._stream_xid].heartbeats.append(message.content)
            elif self._tx is not None:
                self._tx.heartbeats.append(message.content)
        elif isinstance(message, Begin):
            self._tx = _Transaction(message.xid, message.committed_at)
            self._tx_position = message.final_lsn
        elif isinstance(message, Commit):
            tx, self._tx = self._tx, None
            if tx is None:
                raise ProtocolError("Commit without Begin")
            self._committed(tx.changes, message.end_lsn, tx)
        elif isinstance(message, StreamStart):
            self._stream_xid = message.xid
            self._streams.setdefault(message.xid, _Transaction(message.xid, None))
        elif isinstance(message, StreamStop):
            pass
        elif isinstance(message, StreamCommit):
            tx = self._streams.pop(message.xid, _Transaction(message.xid, None))
            tx.committed_at = message.committed_at
            changes = [
                change
                for pending in tx.streamed
                for change in self._changes(pending, tx, message.commit_lsn)
            ]
            self._committed(changes, message.end_lsn, tx)
        elif isinstance(message, StreamAbort):
            if message.xid == message.subxid:
                self._streams.pop(message.xid, None)
            elif message.xid in self._streams:
                tx = self._streams[message.xid]
                tx.streamed = [p for p in tx.streamed if p.xid != message.subxid]
        # Origin, Type and Relation (cached by the decoder) need nothing more.

    def _committed(self, changes: list[Change], end_lsn: int, tx: _Transaction) -> None:
        if end_lsn <= self.checkpoint:
            return  # replayed after a crash: its effects are already committed
        self._ready.extend(changes)
        if tx.heartbeats and tx.committed_at is not None:
            for content in tx.heartbeats:
                found = heartbeat.parse(content, tx.committed_at)
                if found is not None:
                    self._ready_heartbeats.append(found)
        self._ready_position = max(self._ready_position, end_lsn)

    def _changes(self, message: Pending, tx: _Transaction, position: int) -> list[Change]:
        assert tx.committed_at is not None
        xid, at = tx.xid, tx.committed_at
        if isinstance(message, Truncate):
            return [Change(position, xid, at, r.name, "truncate", {}) for r in message.relations]
        relation = message.relation
        table = relation.name
        if isinstance(message, Insert):
            return [
                Change(
                    position,
                    xid,
                    at,
                    table,
                    "insert",
                    self._pk(relation, message.new),
                    None,
                    message.new,
                )
            ]
        if isinstance(message, Update):
            new = message.new
            old = message.old if message.old_kind == "O" else None
            if old is not None and len(new) < len(relation.columns):
                # Unchanged TOASTed values are not sent; the full old row has them.
                new = {**{k: v for k, v in old.items() if k not in new}, **new}
            change = Change(position, xid, at, table, "update", self._pk(relation, new), old, new)
            if old is None and table in slots.FULL_IDENTITY_TABLES:
                return self._identity_gap(change)
            return [change]
        pk = self._pk(relation, message.old)
        if table in slots.FULL_IDENTITY_TABLES and (
            message.old_kind != "O" or _only_key(message.old, pk)
        ):
            return self._identity_gap(Change(position, xid, at, table, "delete", pk))
        return [Change(position, xid, at, table, "delete", pk, message.old, None)]

    def _identity_gap(self, change: Change) -> list[Change]:
        """An update or delete from a partition without REPLICA IDENTITY FULL (one the PMS
        made while the bridge runs): where the row was before is unknown, so the change
        comes with one that has every cache of its table recomputed."""
        table = change.table
        m.logical_identity_gaps.labels(table=table).inc()
        self._identity_checked = float("-inf")  # look at the next lag() call
        if table not in self._warned_identity:
            self._warned_identity.add(table)
            log.warning(
                "%s changed in a partition without REPLICA IDENTITY FULL: the old row is "
                "unknown, so its caches are recomputed whole; setting FULL on it now",
                table,
            )
        return [change.anything_in_table(), change]

    async def _keep_identity(self) -> None:
        """REPLICA IDENTITY FULL on partitions the PMS created while the bridge runs."""
        now = time.monotonic()
        if now - self._identity_checked < self.identity_check_interval:
            return
        self._identity_checked = now
        try:
            # One quick attempt: a partition the PMS keeps busy is tried at the next check,
            # not waited for while the stream stands still.
            changed = await slots.ensure_replica_identity(
                self._connection(), self.tables, attempts=1
            )
        except (psycopg.errors.LockNotAvailable, slots.LogicalSetupError) as exc:
            log.warning("could not set REPLICA IDENTITY FULL yet: %s", exc)
            return
        if changed:
            self._warned_identity.clear()
            log.info("set REPLICA IDENTITY FULL on %s (created while running)", ", ".join(changed))

    def _pk(self, relation: Relation, row: dict[str, Any]) -> dict[str, Any]:
        columns = self._keys.get(relation.name)
        if columns is None:
            columns = self._keys[relation.name] = tuple(c.name for c in relation.columns if c.key)
        return {c: row[c] for c in columns if c in row}

    # The Source contract ---------------------------------------------------------------------

    async def _read_ahead(self) -> None:
        """The reader task: decodes frames into whole transactions until a batch is ready."""
        pgconn = self._pgconn()
        decoded = 0
        while True:
            if len(self._ready) >= self.batch_size:
                # A batch is waiting: read on once the bridge takes it (bounded memory).
                self._full.set()
                self._room.clear()
                await self._room.wait()
                continue
            frame = self._read()
            if frame is None:
                # What the socket already holds first: a status flush may have read it into
                # libpq's buffer, where waiting for the socket would not see it.
                pgconn.consume_input()
                frame = self._read()
            if frame is None:
                if time.monotonic() - self._last_status >= STATUS_INTERVAL:
                    await self._send_status(self._confirmed)
                if await self._wait(pgconn.socket, STATUS_INTERVAL, write=False):
                    pgconn.consume_input()
                continue
            await self._handle_frame(frame)
            if self._ready or self._ready_heartbeats:
                self._arrived.set()
            decoded += 1
            if decoded % 200 == 0:
                # Let the bridge's task run between frames: its query results are waiting.
                await asyncio.sleep(0)

    async def next_batch(self) -> Batch | None:
        reader = self._reader
        if reader is None:
            raise psycopg.InterfaceError("LogicalSource.open() was not called")
        deadline = time.monotonic() + self.poll_interval
        while True:
            if reader.done():
                reader.result()  # the stream's error (lost connection, protocol) is raised here
                raise psycopg.OperationalError("the replication reader stopped")
            if self._ready or self._ready_heartbeats:
                batch = self._take()
                await self._until_visible(batch)
                return batch
            if self._ready_position > self._confirmed and self._idle():
                # Transactions with nothing for the bridge (filtered, empty, replayed).
                self._confirmed = self._ready_position
                await self._send_status(self._confirmed)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._arrived.clear()
            arrived = asyncio.ensure_future(self._arrived.wait())
            try:
                await asyncio.wait(
                    {arrived, reader}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                # Also when this wait itself is cancelled (the bridge closing its read-ahead).
                arrived.cancel()

    async def batch_waiting(self) -> None:
        await self._full.wait()

    def _take(self) -> Batch:
        changes, self._ready = self._ready, []
        heartbeats, self._ready_heartbeats = self._ready_heartbeats, []
        self._full.clear()
        self._room.set()
        self._unacknowledged = self._ready_position
        return Batch(changes, self._ready_position, heartbeats=heartbeats)

    async def _until_visible(self, batch: Batch) -> None:
        """Wait until a new snapshot sees the batch's transactions as committed."""
        xids = sorted({c.xid for c in batch.changes})
        if not xids:
            return
        conn = self._connection()
        for attempt in range(10_000):
            running = await fetch_value(conn, query("logical_xids_running"), {"xids": xids})
            if not running:
                return
            await asyncio.sleep(0.001 if attempt < 100 else 0.01)
        raise psycopg.OperationalError(f"transactions {xids[:5]} never became visible")

    async def claim(self, conn: psycopg.AsyncConnection[Any], batch: Batch) -> None:
        # The pipeline saves batch.position as the checkpoint in this same transaction.
        if batch.position <= self.checkpoint:
            raise RuntimeError(
                f"batch at {batch.position} is not after checkpoint {self.checkpoint}"
            )

    async def acknowledge(self, batch: Batch) -> None:
        self.checkpoint = batch.position
        if self._unacknowledged == batch.position:
            # Not when a later batch is already handed out (the bridge reads ahead): until
            # that one is acknowledged too, keepalives must not confirm past it.
            self._unacknowledged = None
        self._confirmed = max(self._confirmed, batch.position)
        await self._send_status(self._confirmed)
        if not self._ready:
            self._caught_up_at = time.monotonic()

    async def heartbeat(self, emitted_at: datetime) -> None:
        await self._connection().execute(
            query("logical_heartbeat"),
            {"prefix": heartbeat.PREFIX, "payload": heartbeat.payload(emitted_at)},
        )

    async def lag(self) -> tuple[float, float]:
        """The slot's lag; also the running source's periodic care of new partitions and its
        watch over the slot itself."""
        await self._keep_identity()
        measured = await slots.slot_lag(self._connection(), self.slot)
        if measured is None or measured.wal_status == "lost":
            # The stream may still deliver what the server had sent; nothing after it will
            # come. Reopening finds the slot gone or lost and makes it anew, with the gap.
            state = "gone" if measured is None else "invalidated (wal_status lost)"
            raise slots.SlotLost(f"replication slot {self.slot} is {state}")
        behind = measured.behind_bytes if measured else 0
        seconds = 0.0 if behind == 0 else time.monotonic() - self._caught_up_at
        m.slot_lag_bytes.set(behind)
        m.slot_lag_seconds.set(seconds)
        m.slot_retained_bytes.set(measured.retained_bytes if measured else 0)
        warn = behind >= self.settings.slot_lag_warn_bytes
        if warn and not self._lag_warned:
            log.warning(
                "slot %s is %d bytes behind (threshold %d)",
                self.slot,
                behind,
                self.settings.slot_lag_warn_bytes,
            )
        self._lag_warned = warn
        m.slot_lag_warning.set(1 if warn else 0)
        return float(behind), seconds


def _only_key(old: dict[str, Any], pk: dict[str, Any]) -> bool:
    """A partition without REPLICA IDENTITY FULL under a root that has it sends a delete's
    old row as 'O' all the same, with only its key filled in: every other column null, which
    no real row of these tables is (each has NOT NULL columns besides its key)."""
    return all(value is None for column, value in old.items() if column not in pk)
