"""Heartbeats: a marker written into the PMS database that comes back through capture and apply."""

# What it proves: the whole path (server, capture, apply, checkpoint) works while the watched
# tables are idle, so an idle PMS and a broken bridge look different from outside. In logical
# mode it does more: its commit is a position the bridge can confirm, so the slot moves past
# the WAL that unwatched tables write (otherwise it would hold that WAL until the next watched
# change). Logical mode writes `pg_logical_emit_message(true, PREFIX, payload)`; trigger mode
# an outbox row with `table_name = PREFIX` and op 'H'. Either way the source hands it over in
# `Batch.heartbeats`, never in `Batch.changes`: projectors do not see it and it is never parked.

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from metrics import definitions as m

log = logging.getLogger("pms_bridge.heartbeat")

# The logical message's prefix, and the outbox row's table_name (no PMS table has this name).
PREFIX = "pms_bridge_heartbeat"
# The outbox row's op: not one of a row trigger's I/U/D/T.
OUTBOX_OP = "H"


class Payload(msgspec.Struct, frozen=True):
    # The bridge's own clock at writing: the round trip is measured on one clock.
    emitted_at: datetime


class Heartbeat(msgspec.Struct, frozen=True):
    emitted_at: datetime
    # The heartbeat transaction's commit time on the server.
    committed_at: datetime


def payload(emitted_at: datetime) -> str:
    return msgspec.json.encode(Payload(emitted_at)).decode()


def parse(content: bytes | str | dict[str, Any], committed_at: datetime) -> Heartbeat | None:
    """The heartbeat in a message or outbox row; None (and a log line) when it is not one
    this bridge wrote, e.g. another tool's message under the same prefix."""
    try:
        if isinstance(content, dict):
            found = msgspec.convert(content, Payload)
        else:
            found = msgspec.json.decode(content, type=Payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.warning("ignored a %s message that is not a heartbeat: %s", PREFIX, exc)
        return None
    return Heartbeat(found.emitted_at, committed_at)


class HeartbeatMonitor:
    """When heartbeats are written and seen back; sets the heartbeat metrics."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_seen: float | None = None  # time.time() of the last one seen back
        self.first_emitted: float | None = None
        self.seen = 0
        self._next = 0.0

    def due(self) -> datetime | None:
        """The time to write into a heartbeat when one is due now, else None."""
        if self.interval <= 0:
            return None
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.interval
        emitted = datetime.now(UTC)
        if self.first_emitted is None:
            self.first_emitted = emitted.timestamp()
        return emitted

    def saw(self, heartbeats: Sequence[Heartbeat]) -> None:
        """After the apply transaction that carried them committed."""
        if not heartbeats:
            return
        now = time.time()
        for heartbeat in heartbeats:
            m.heartbeat_round_trip_seconds.observe(max(now - heartbeat.emitted_at.timestamp(), 0))
        self.last_seen = now
        self.seen += len(heartbeats)
        m.heartbeat_age_seconds.set(0)

    def age(self) -> float | None:
        """Seconds since the last heartbeat came back (since the first was written while
        none has); None when heartbeats are off or none was written yet."""
        since = self.last_seen if self.last_seen is not None else self.first_emitted
        if since is None:
            return None
        age = max(time.time() - since, 0.0)
        m.heartbeat_age_seconds.set(age)
        return age
