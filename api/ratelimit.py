"""Token-bucket rate limits per caller and endpoint class: in Redis (Lua) or in-process."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Protocol

import msgspec
import redis.asyncio as aioredis

from bridge.config import ConfigError
from metrics.definitions import api_rate_limited

log = logging.getLogger("pms_bridge.api.ratelimit")

CLASSES = ("read", "book", "admin", "auth", "failed_auth")
# failed_auth: the failed authentications (401s) one client address may make.
DEFAULT_LIMITS = "read=200:400,book=20:40,admin=5:10,auth=10:20,failed_auth=1:20"


class Limit(msgspec.Struct, frozen=True):
    rate: float  # tokens added per second
    burst: int  # bucket size


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: Limit
    remaining: int
    retry_after: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        window = max(1, math.ceil(self.limit.burst / self.limit.rate))
        headers = [
            (b"ratelimit-limit", str(self.limit.burst).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
            (b"ratelimit-policy", f"{self.limit.burst};w={window}".encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


def parse_limits(spec: str) -> dict[str, Limit]:
    """`read=200:400,book=20:40`: per class, tokens per second and burst."""
    limits = dict(_parse(DEFAULT_LIMITS))
    limits.update(_parse(spec))
    return limits


def _parse(spec: str) -> dict[str, Limit]:
    found: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        rate, _, burst = value.partition(":")
        try:
            limit = Limit(float(rate), int(burst or max(1, math.ceil(float(rate)))))
        except ValueError:
            limit = Limit(0, 0)
        if name not in CLASSES or limit.rate <= 0 or limit.burst < 1:
            raise ConfigError(
                f"BRIDGE_RATE_LIMITS: {part!r} is not CLASS=PER_SECOND:BURST with CLASS in "
                f"{', '.join(CLASSES)}, e.g. read=200:400"
            )
        found[name] = limit
    return found


def _decision(limit: Limit, allowed: bool, tokens: float, wait: float) -> Decision:
    return Decision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, math.floor(tokens)),
        retry_after=max(1, math.ceil(wait)) if not allowed else 0,
        reset=math.ceil((limit.burst - tokens) / limit.rate),
    )


class Limiter(Protocol):
    async def hit(self, caller: str, klass: str) -> Decision: ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """One process's buckets: the embedded default, and the fallback when Redis fails."""

    def __init__(self, limits: dict[str, Limit]) -> None:
        self.limits = limits
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    async def hit(self, caller: str, klass: str) -> Decision:
        return self.take(caller, klass)

    def take(self, caller: str, klass: str) -> Decision:
        limit = self.limits[klass]
        now = time.monotonic()
        tokens, stamp = self._buckets.get((caller, klass), (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        self._buckets[(caller, klass)] = (tokens, now)
        return _decision(limit, allowed, tokens, (1.0 - tokens) / limit.rate)

    async def close(self) -> None:
        return None


# Redis's own clock, so every replica refills the shared bucket the same way. ARGV[3] is how
# many tokens the caller would like to lease at once; it gets what the bucket holds, up to that.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(tokens), tostring(wait)}
"""

# A replica leases up to a tenth of a bucket per script call and spends the lease locally for
# at most LEASE_SECONDS. Leased tokens have left the shared bucket, so the replicas together
# never admit more than the limit; a lease that expires unspent only makes the limit stricter.
# A lease in use is topped up ahead of its end (once RENEW_AT of its life has passed or a
# quarter of it is left) while callers go on spending it, so a busy caller never waits on
# Redis: a replica still holds at most a tenth of a bucket, and a token at most LEASE_SECONDS
# past the top-up that took it.
LEASE_FRACTION = 0.1
LEASE_SECONDS = 0.5
RENEW_AT = 0.6


class _Lease:
    __slots__ = ("expires", "left", "renew_at", "shared", "size")

    def __init__(self, size: int, left: int, shared: float, now: float) -> None:
        self.size, self.left, self.shared = size, left, shared
        self.expires = now + LEASE_SECONDS
        self.renew_at = now + LEASE_SECONDS * RENEW_AT


class RedisLimiter:
    """Shared buckets: one atomic script call per lease (one per call for small limits)."""

    def __init__(self, url: str, prefix: str, limits: dict[str, Limit]) -> None:
        self.limits = limits
        # A blocking pool: under a burst of callers, wait for a connection instead of failing
        # with "Too many connections" (redis-py's default pool raises at 100).
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._script: Any = self._redis.register_script(_BUCKET_LUA)
        self._prefix = prefix
        self._fallback = MemoryLimiter(limits)
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._refills: dict[tuple[str, str], asyncio.Future[None]] = {}

    def _leased(self, bucket: tuple[str, str], now: float) -> Decision | None:
        """A token from this replica's lease, if it holds one; a lease running out or getting
        old is topped up meanwhile."""
        lease = self._leases.get(bucket)
        if lease is None or lease.left <= 0 or now >= lease.expires:
            return None
        lease.left -= 1
        if (now >= lease.renew_at or lease.left * 4 <= lease.size) and bucket not in self._refills:
            renewal = asyncio.ensure_future(self._top_up(bucket, lease))
            self._refills[bucket] = renewal
            renewal.add_done_callback(lambda _: self._refills.pop(bucket, None))
        return _decision(self.limits[bucket[1]], True, lease.shared + lease.left, 0.0)

    async def hit(self, caller: str, klass: str) -> Decision:
        limit = self.limits[klass]
        bucket = (caller, klass)
        while True:
            now = time.monotonic()
            leased = self._leased(bucket, now)
            if leased is not None:
                return leased
            pending = self._refills.get(bucket)
            if pending is None:
                break
            # One lease request per bucket at a time: the others wait for it and share it.
            await asyncio.shield(pending)
        refill: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._refills[bucket] = refill
        try:
            return await self._lease(limit, caller, klass, now)
        finally:
            del self._refills[bucket]
            refill.set_result(None)

    async def _take(
        self, limit: Limit, caller: str, klass: str, want: int
    ) -> tuple[int, float, float]:
        """Up to `want` tokens from the shared bucket: how many, what it holds then, and the
        wait for a token when it had none."""
        granted, tokens, wait = await self._script(
            keys=[f"{self._prefix}:rl:{klass}:{caller}"], args=[limit.rate, limit.burst, want]
        )
        return int(granted), float(tokens), float(wait)

    async def _lease(self, limit: Limit, caller: str, klass: str, now: float) -> Decision:
        want = max(1, int(limit.burst * LEASE_FRACTION))
        try:
            granted, shared, wait = await self._take(limit, caller, klass, want)
        except Exception as exc:
            # Redis down must not take the API with it: limit this replica on its own meanwhile.
            api_rate_limited.labels(klass=klass, outcome="redis_error").inc()
            log.warning("rate limiter falls back to in-process buckets: %s", exc)
            return self._fallback.take(caller, klass)
        if granted == 0:
            return _decision(limit, False, shared, wait)
        if granted > 1:
            if len(self._leases) > 100_000:
                self._leases.clear()
            self._leases[(caller, klass)] = _Lease(want, granted - 1, shared, now)
        return _decision(limit, True, shared + granted - 1, 0.0)

    async def _top_up(self, bucket: tuple[str, str], lease: _Lease) -> None:
        """The lease filled back to its size from the shared bucket, its life renewed; left as
        it is when the bucket has nothing to give or Redis fails (a caller then finds it
        spent or ended, and asks in its own time)."""
        caller, klass = bucket
        try:
            granted, shared, _ = await self._take(
                self.limits[klass], caller, klass, max(1, lease.size - lease.left)
            )
        except Exception as exc:
            api_rate_limited.labels(klass=klass, outcome="redis_error").inc()
            log.warning("rate limiter could not top up a lease: %s", exc)
            return
        if granted and self._leases.get(bucket) is lease:
            self._leases[bucket] = _Lease(
                lease.size, lease.left + granted, shared, time.monotonic()
            )

    async def close(self) -> None:
        top_ups = [
            pending for pending in self._refills.values() if isinstance(pending, asyncio.Task)
        ]
        for top_up in top_ups:
            top_up.cancel()
        await asyncio.gather(*top_ups, return_exceptions=True)
        await self._redis.aclose(close_connection_pool=True)


class FailedAuth:
    """Client addresses past their failed_auth limit, refused before any key is looked up
    (a made-up key costs a database read the first time it is seen) until their bucket
    refills. The buckets live in the limiter (shared through Redis); the refusals are this
    replica's own, so a replica learns of one at the address's next failure it sees."""

    MAX_REFUSED = 10_000

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        self._until: dict[str, float] = {}

    def refused(self, address: str) -> int | None:
        """Seconds the address must wait, or None when it may try."""
        until = self._until.get(address)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            del self._until[address]
            return None
        return max(1, math.ceil(left))

    async def failed(self, address: str) -> None:
        decision = await self._limiter.hit(f"ip:{address}", "failed_auth")
        if decision.allowed:
            return
        if address not in self._until and len(self._until) >= self.MAX_REFUSED:
            # The longest-refused address goes first; the others keep their refusal.
            del self._until[next(iter(self._until))]
        self._until[address] = time.monotonic() + decision.retry_after
        api_rate_limited.labels(klass="failed_auth", outcome="rejected").inc()


def open_limiter(redis_url: str | None, prefix: str, spec: str) -> Limiter:
    limits = parse_limits(spec)
    if redis_url:
        return RedisLimiter(redis_url, prefix, limits)
    return MemoryLimiter(limits)
