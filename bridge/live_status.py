"""What the API may know of the bridge: a read-only status, and the versions, one per hotel,
under which memoized answers stay exact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

import msgspec

# What one hotel's memoized answers are kept under: (epoch, every, hotel, live). An answer
# read under one version is exact until it moves: `hotel` moves when a write changes that
# hotel's cached answers, `every` when one changes any hotel's (a full rebuild, a capture
# reconnection, whose answers may miss changes still being caught up on), `epoch` when a
# process subscribes anew (moves published while it was not subscribed are lost), and `live`
# with capture. A plain tuple: it is made for every memoized answer given.
MemoVersion = tuple[int, int, int, bool]


class MemoVersions:
    """Each hotel's count of moves, the count of moves of every hotel, and whether capture is
    connected; a hotel never moved counts 0."""

    __slots__ = ("epoch", "every", "hotels", "live")

    def __init__(
        self,
        epoch: int = 0,
        every: int = 0,
        live: bool = False,
        hotels: dict[int, int] | None = None,
    ) -> None:
        self.epoch = epoch
        self.every = every
        self.live = live
        self.hotels = {} if hotels is None else hotels

    def of(self, hotel_id: int) -> MemoVersion:
        return (self.epoch, self.every, self.hotels.get(hotel_id, 0), self.live)


class Moved(msgspec.Struct, frozen=True):
    """What moved since the last announcement: hotels whose cached answers changed, whether
    every hotel's did, and whether capture is connected now."""

    hotels: frozenset[int]
    every: bool
    live: bool


class Moves:
    """Where cache writers say which hotels' answers they changed. `flush`, once the writes
    have landed, moves this process's versions and wakes the announcer
    (bridge/shared_version.py), which publishes everything flushed since it last did as one
    message."""

    def __init__(self) -> None:
        self.versions = MemoVersions()
        self.ready = asyncio.Event()
        self._written: set[int] = set()
        self._written_every = False
        self._due: set[int] = set()
        self._due_every = False

    def hotels(self, hotel_ids: Iterable[int]) -> None:
        self._written.update(hotel_ids)

    def every(self) -> None:
        self._written_every = True

    def capture(self, live: bool) -> None:
        """Capture connected, or lost. Once connected again every hotel moves: answers from
        before may miss changes still to be caught up on."""
        if live:
            self._written_every = True
        if live != self.versions.live:
            self.versions.live = live
            self.ready.set()
        self.flush()

    def flush(self) -> None:
        versions = self.versions
        if self._written_every:
            versions.every += 1
            self._due_every = True
            self._written_every = False
            self.ready.set()
        if self._written:
            for hotel_id in self._written:
                versions.hotels[hotel_id] = versions.hotels.get(hotel_id, 0) + 1
            self._due |= self._written
            self._written = set()
            self.ready.set()

    def take(self) -> Moved:
        """What is due, now counted as announced."""
        self.ready.clear()
        moved = Moved(frozenset(self._due), self._due_every, self.versions.live)
        self._due, self._due_every = set(), False
        return moved

    def written(self) -> Moved:
        """Everything writers said, at once: for a writer outside the bridge's batches, which
        publishes it itself (bridge/shared_version.py's `publish`)."""
        self.flush()
        return self.take()

    def retry(self, moved: Moved) -> None:
        """An announcement that failed goes with the next one."""
        self._due |= moved.hotels
        self._due_every = self._due_every or moved.every
        self.ready.set()


class BridgeStatus(Protocol):
    """The bridge as its readers see it; bridge.pipeline.Bridge is one."""

    @property
    def applied(self) -> int: ...

    @property
    def connections(self) -> int: ...

    @property
    def connected(self) -> bool: ...

    @property
    def paused(self) -> str | None:
        """Why applying is paused, while it is."""
        ...

    @property
    def lag(self) -> tuple[float, float]:
        """What waits to be applied (changes or WAL bytes) and how old it is, in seconds."""
        ...

    @property
    def capture(self) -> str:
        """The capture source's name: trigger or logical."""
        ...

    def heartbeat_age(self) -> float | None: ...

    def memo_version(self, hotel_id: int) -> MemoVersion:
        """The hotel's version as the bridge moves it, for an API in its process."""
        ...

    def latency_percentile(self, q: float) -> float:
        """Commit to applied, in seconds, over recent changes."""
        ...
