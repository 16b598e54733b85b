"""A short-lived memo of encoded availability answers, valid while the bridge applied nothing.

Only used when this process runs the bridge: every cache change from capture bumps
`Bridge.applied`, so an answer stored under the counter's value before the read is exact
until the counter moves. The age bound covers writes the counter does not see (a read-through
or refresh by another replica sharing Redis, the TTL refresher); it is well inside the
5-second sync target.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

MAX_AGE_SECONDS = 1.0
MAX_ENTRIES = 2048


class ResponseMemo:
    def __init__(self, max_age: float = MAX_AGE_SECONDS, size: int = MAX_ENTRIES) -> None:
        self._max_age = max_age
        self._size = size
        self._entries: dict[Hashable, tuple[Hashable, float, bytes]] = {}

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        found = self._entries.get(key)
        if found is None or found[0] != version or time.monotonic() - found[1] > self._max_age:
            return None
        return found[2]

    def put(self, key: Hashable, version: Hashable, body: bytes) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (version, time.monotonic(), body)

    def clear(self) -> None:
        self._entries.clear()
