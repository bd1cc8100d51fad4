"""`RedisFleet`: provider limits shared by every replica through one Redis (`[redis] url`).

- Rate: a sliding-window log per provider account (a sorted set of calls, timed by Redis's own
  clock, one Lua script per acquire): at most `max_rate` calls in any `time_period` window,
  fleet-wide, whichever replica makes them. A call counts from its slot until `time_period`
  after its answer, written back by a second script once the answer is in (the rule and why:
  `gateway/transport/window.py`); until then its score is the latest it could end (slot plus
  its timeout), which is also how long the calls of a replica that died keep counting. A
  caller over the limit is told how long until a place frees and sleeps that long.
- Retry-After gate: a key whose time-to-live is the time the provider asked for. A replica
  that gets a 429 sets it (only ever later); every replica reads it before each call.
- OAuth token: kept in a hash with the token's usable lifetime as its TTL. A replica that
  finds none takes a short lock and fetches; the others wait for the token to appear, so the
  fleet asks the token endpoint once. A 401 drops the shared token only if it is still the
  one refused. The token (never the client secret) therefore sits in Redis for its lifetime:
  protect Redis like the database (AUTH, TLS with `rediss://`, a private network).

Redis is a coordinator here, not a dependency of correctness: when it cannot be reached the
pieces fall back to what `LocalFleet` does (`rate / replicas`, a local gate, a local token)
and say so once in the log (`fleet.redis.unavailable`), until Redis answers again.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.clock import Clock
from gateway.transport.fleet import RateBucket, RateSlot, SharedToken, SharedTokens, local_bucket
from gateway.transport.gate import RetryAfterGate
from gateway.transport.window import CallWindow, window_of

log = structlog.get_logger(__name__)

GATE_READ_EVERY_S = 0.1
"""A replica reads the fleet's gate at most this often: a closing reaches the others within
it, and the check the transport repeats once it has a rate slot is mostly no round trip."""

# Redis raises its own errors, and plain OS/timeout errors for sockets that go away.
REDIS_DOWN = (RedisError, OSError, TimeoutError)

_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[2])
local longest = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + longest, ARGV[3])
  local ttl = math.ceil((longest + period) / 1000) + 1000
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  return 0
end
local first = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
return math.max(1, math.min(first, now) + period - now)
"""
_ANSWERED = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
return 0
"""
_GATE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 1
end
return 0
"""
_FORGET = """
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisHealth:
    """Logs the moment Redis stops (and starts again) answering, not every failed call."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, what: str, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("fleet.redis.unavailable", during=what, error=type(exc).__name__)

    def answered(self) -> None:
        if self.down:
            self.down = False
            log.info("fleet.redis.available")


class RedisFleet:
    def __init__(self, redis: Redis, *, prefix: str, replicas: int = 1) -> None:
        self._redis = redis
        self._prefix = prefix
        self._replicas = replicas
        self.health = RedisHealth()
        self._writes: set[asyncio.Task[None]] = set()
        """Answered calls being written back (`close` lets them land)."""
        self.description = "redis (shared by every replica)"

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str, replicas: int = 1, password: str | None = None
    ) -> RedisFleet:
        options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        if password is not None:
            options["password"] = password
        client = Redis.from_url(url, **options)
        return cls(client, prefix=prefix, replicas=replicas)

    def key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def rate_bucket(
        self, provider: str, *, max_rate: float, time_period: float, clock: Clock
    ) -> RateBucket:
        return RedisRateBucket(
            self._redis,
            self.key("rate", provider),
            max_rate=max_rate,
            time_period=time_period,
            clock=clock,
            fallback=local_bucket(max_rate, time_period, clock=clock, share=self._replicas),
            health=self.health,
            writes=self._writes,
        )

    def gate(self, provider: str, *, ceiling_s: float, clock: Clock) -> RetryAfterGate:
        return RedisRetryAfterGate(
            provider,
            ceiling_s=ceiling_s,
            clock=clock,
            redis=self._redis,
            key=self.key("gate", provider),
            health=self.health,
        )

    def tokens(self, provider: str, identity: str) -> SharedTokens | None:
        return RedisTokens(self._redis, self.key("token", provider, identity), health=self.health)

    async def close(self) -> None:
        await asyncio.gather(*self._writes, return_exceptions=True)
        await self._redis.aclose()


class RedisRateBucket:
    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        max_rate: float,
        time_period: float,
        clock: Clock,
        fallback: CallWindow,
        health: RedisHealth,
        writes: set[asyncio.Task[None]],
    ) -> None:
        self._limit, period = window_of(max_rate, time_period)
        self._period_us = max(1, round(period * 1_000_000))
        self._script = redis.register_script(_WINDOW)
        self._answered = redis.register_script(_ANSWERED)
        self._key = key
        self._clock = clock
        self._fallback = fallback
        self._health = health
        self._writes = writes
        self._rng = random.Random()  # noqa: S311 (spreads waiters, not crypto)

    async def acquire(self, *, longest_s: float) -> RateSlot:
        member = uuid.uuid4().hex
        longest_us = max(1, round(longest_s * 1_000_000))
        while True:
            try:
                wait_us = int(
                    await self._script(
                        keys=[self._key], args=[self._limit, self._period_us, member, longest_us]
                    )
                )
            except REDIS_DOWN as exc:
                self._health.failed("rate", exc)
                return await self._fallback.acquire(longest_s=longest_s)
            self._health.answered()
            if wait_us <= 0:
                return RedisSlot(self, member)
            # A little jitter, so waiters from every replica do not all retry at one instant.
            await self._clock.sleep(wait_us / 1_000_000 + self._rng.uniform(0, 0.005))

    def _release(self, member: str) -> None:
        # Written in a task, so that the caller has its answer at once; until it lands the
        # call counts as still running, which only ever holds the rate back.
        task = asyncio.get_running_loop().create_task(self._write_answered(member))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_answered(self, member: str) -> None:
        try:
            await self._answered(keys=[self._key], args=[member])
        except REDIS_DOWN as exc:
            self._health.failed("rate", exc)


class RedisSlot:
    __slots__ = ("_bucket", "_member")

    def __init__(self, bucket: RedisRateBucket, member: str) -> None:
        self._bucket = bucket
        self._member = member

    def release(self) -> None:
        self._bucket._release(self._member)


class RedisRetryAfterGate(RetryAfterGate):
    """The local gate, plus a Redis key that carries a closing to (and from) other replicas."""

    def __init__(
        self,
        provider: str,
        *,
        ceiling_s: float,
        clock: Clock,
        redis: Redis,
        key: str,
        health: RedisHealth,
    ) -> None:
        super().__init__(provider, ceiling_s=ceiling_s, clock=clock)
        self._redis = redis
        self._script = redis.register_script(_GATE)
        self._key = key
        self._health = health
        self._publishing: set[asyncio.Task[None]] = set()
        self._read_at = -math.inf

    def close_for(self, seconds: float) -> float:
        capped = super().close_for(seconds)
        self._read_at = -math.inf  # read the fleet's answer again before the next call
        if capped > 0:
            # close_for is synchronous (the transport calls it as it reads a 429); the write
            # goes out at once in a task, and this replica's next wait() makes sure it landed.
            task = asyncio.get_running_loop().create_task(self._publish(capped))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
        return capped

    async def _publish(self, seconds: float) -> None:
        try:
            await self._script(keys=[self._key], args=[max(1, round(seconds * 1000))])
        except REDIS_DOWN as exc:
            self._health.failed("gate", exc)

    async def _pull(self) -> None:
        now = self._clock.monotonic()
        if now - self._read_at < GATE_READ_EVERY_S:
            return
        self._read_at = now
        try:
            ttl_ms: Any = await self._redis.pttl(self._key)
        except REDIS_DOWN as exc:
            self._health.failed("gate", exc)
            return
        self._health.answered()
        if isinstance(ttl_ms, int) and ttl_ms > 0 and self.extend(ttl_ms / 1000):
            log.info("provider.gate.closed_by_fleet", key=self._key, seconds=ttl_ms / 1000)

    async def shut(self) -> bool:
        await self._pull()
        return self.remaining() > 0

    async def wait(self, *, deadline: float | None = None) -> None:
        if self._publishing:
            await asyncio.gather(*self._publishing, return_exceptions=True)
        while True:
            await self._pull()
            if self.remaining() <= 0:
                return
            await super().wait(deadline=deadline)


class RedisTokens:
    def __init__(self, redis: Redis, key: str, *, health: RedisHealth) -> None:
        self._redis = redis
        self._key = key
        self._lock_key = f"{key}:lock"
        self._forget = redis.register_script(_FORGET)
        self._unlock = redis.register_script(_UNLOCK)
        self._health = health

    async def load(self) -> SharedToken | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(self._key, ["v", "w"])
                pipe.pttl(self._key)
                (value, wall), ttl_ms = await pipe.execute()
        except REDIS_DOWN as exc:
            self._health.failed("token", exc)
            return None
        self._health.answered()
        if value is None or ttl_ms <= 0:
            return None
        return SharedToken(value.decode(), ttl_ms / 1000, float(wall))

    async def store(self, token: SharedToken) -> None:
        ttl_ms = math.floor(token.ttl_s * 1000)
        if ttl_ms <= 0:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key)
                pipe.hset(self._key, mapping={"v": token.value, "w": repr(token.wall_expires_at)})
                pipe.pexpire(self._key, ttl_ms)
                await pipe.execute()
        except REDIS_DOWN as exc:
            self._health.failed("token", exc)

    async def forget(self, value: str) -> None:
        try:
            await self._forget(keys=[self._key], args=[value])
        except REDIS_DOWN as exc:
            self._health.failed("token", exc)

    async def try_lock(self, ttl_s: float) -> str | None:
        lock = uuid.uuid4().hex
        try:
            taken = await self._redis.set(
                self._lock_key, lock, nx=True, px=max(1, round(ttl_s * 1000))
            )
        except REDIS_DOWN as exc:
            self._health.failed("token", exc)
            return f"local:{lock}"  # cannot coordinate: fetch for ourselves
        return lock if taken else None

    async def unlock(self, lock: str) -> None:
        if lock.startswith("local:"):
            return
        try:
            await self._unlock(keys=[self._lock_key], args=[lock])
        except REDIS_DOWN as exc:
            self._health.failed("token", exc)
