"""What the API may know of the bridge: a read-only status, and the version under which
memoized answers stay exact."""

from __future__ import annotations

from typing import Protocol

import msgspec


class Version(msgspec.Struct, frozen=True, array_like=True):
    """Changes applied, times the source was opened, and whether it is open now. An answer
    read under one version is exact until the version moves: an applied change moves
    `applied`, and an answer from before a reconnection may miss changes still being caught
    up on."""

    applied: int
    connections: int
    connected: bool


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

    def latency_percentile(self, q: float) -> float:
        """Commit to applied, in seconds, over recent changes."""
        ...


def version_of(status: BridgeStatus) -> Version:
    return Version(status.applied, status.connections, status.connected)
