"""A short-lived memo of encoded answers, each kept under its hotel's memo version
(bridge/live_status.py).

The caches' writers move a hotel's version once their writes have landed (the bridge's sinks
per batch, cache commands and admin routes, reconcile's repairs), and every API process follows
the versions through Redis (bridge/shared_version.py), so an answer stored under the version
read before the cache is exact until that hotel's version moves; a change in one hotel leaves
the others' answers standing. The age bound covers writes no version sees (a read-through by
another process sharing Redis, the TTL refresher) and a subscription lost before it is noticed:
no answer is served older than MAX_AGE_SECONDS (+ GRACE_SECONDS while its successor is being
computed), well inside the 5-second sync target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from metrics.definitions import api_memo_answers

MAX_AGE_SECONDS = 1.0
GRACE_SECONDS = 0.25
MAX_ENTRIES = 2048


V = TypeVar("V")


class ResponseMemo(Generic[V]):
    def __init__(
        self, name: str = "availability", max_age: float = MAX_AGE_SECONDS, size: int = MAX_ENTRIES
    ) -> None:
        self._hit, self._shared, self._computed = (
            api_memo_answers.labels(memo=name, outcome=outcome)
            for outcome in ("hit", "shared", "computed")
        )
        self._max_age = max_age
        self._size = size
        self._entries: dict[Hashable, tuple[Hashable, float, V]] = {}
        self._inflight: dict[tuple[Hashable, Hashable], asyncio.Future[tuple[V, bool]]] = {}

    def get(self, key: Hashable, version: Hashable) -> V | None:
        """The answer stored under this version. Past its age, it is still given for at most
        GRACE_SECONDS while its successor is being computed, so the callers meanwhile neither
        wait nor all take the slow path."""
        found = self._entries.get(key)
        if found is None or found[0] != version:
            return None
        age = time.monotonic() - found[1]
        if age > self._max_age and (
            age > self._max_age + GRACE_SECONDS or (key, version) not in self._inflight
        ):
            return None
        return found[2]

    def put(self, key: Hashable, version: Hashable, body: V) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (version, time.monotonic(), body)

    async def fetch(
        self,
        key: Hashable,
        version: Hashable,
        compute: Callable[[], Awaitable[tuple[V, bool]]],
    ) -> V:
        """The stored answer, or one computation shared by every caller asking meanwhile
        (no stampede when an answer ages out under load). `compute` returns the body and
        whether it may be kept."""
        body = self.get(key, version)
        if body is not None:
            self._hit.inc()
            return body
        pending = self._inflight.get((key, version))
        if pending is not None:
            self._shared.inc()
            try:
                return (await asyncio.shield(pending))[0]
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise
                return (await compute())[0]  # the computing caller went away: do it here
        self._computed.inc()
        future: asyncio.Future[tuple[V, bool]] = asyncio.get_running_loop().create_future()
        self._inflight[(key, version)] = future
        try:
            body, keep = await compute()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            self._entries.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved here so an unshared failure is not reported twice
            raise
        finally:
            del self._inflight[(key, version)]
        future.set_result((body, keep))
        if keep:
            self.put(key, version, body)
        else:
            # The answer now is stale (the PMS did not answer): no older one may stand for it.
            self._entries.pop(key, None)
        return body

    def clear(self) -> None:
        self._entries.clear()
