"""`Fleet`: how a provider's limits are split or shared between the gateway's replicas.

A provider account's rate limit, its Retry-After gate and its OAuth token belong to the
account, not to one process. The transport asks a `Fleet` for them:

- `LocalFleet` (default): everything lives in this process; with `[server] replicas = N` each
  replica takes `rate / N`, so N replicas together stay within the account's rate.
- `RedisFleet` (`gateway/transport/redis_fleet.py`, with `[redis] url`): one sliding-window
  rate limit for the whole fleet, a gate that a 429 seen by any replica closes for all, and
  one OAuth token fetched once for all of them.

The pieces keep small interfaces: a `RateBucket` gives one `RateSlot` per HTTP request, given
back when its answer is in (a call counts from its slot until a period after that, see
`gateway/transport/window.py`); the gate is a `RetryAfterGate`; `SharedTokens` is what
`TokenCache` consults before asking the token endpoint itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.clock import Clock
from gateway.transport.gate import RetryAfterGate
from gateway.transport.window import CallWindow, window_of


class RateSlot(Protocol):
    def release(self) -> None:
        """The request is answered (or failed): from now on it counts one more period only."""
        ...


class RateBucket(Protocol):
    async def acquire(self, *, longest_s: float) -> RateSlot:
        """Wait until one more call fits in the rate. `longest_s`: how long the request can
        take at most — a slot never released (its process died) counts that long."""
        ...


@dataclass(frozen=True, slots=True)
class SharedToken:
    value: str = field(repr=False)
    """The bearer token, out of `repr` (logs) like `oauth.Token`'s."""
    ttl_s: float
    """Seconds it may still be used (expiry minus skew), as the fleet agreed."""
    wall_expires_at: float


class SharedTokens(Protocol):
    """The fleet's copy of one OAuth token (one account and scope set)."""

    async def load(self) -> SharedToken | None: ...

    async def store(self, token: SharedToken) -> None: ...

    async def forget(self, value: str) -> None:
        """Drop `value` if it is still the shared one (it was refused with a 401)."""
        ...

    async def try_lock(self, ttl_s: float) -> str | None:
        """Become the one replica that fetches a token: a lock id, or None if another holds it.

        An implementation that cannot reach its backend answers as if the lock were taken by
        us, so a broken Redis degrades to each replica fetching its own token.
        """
        ...

    async def unlock(self, lock: str) -> None: ...


class Fleet(Protocol):
    description: str
    """What `/v1/providers` and the log say about it, e.g. `local (1/2 of each rate)`."""

    def rate_bucket(
        self, provider: str, *, max_rate: float, time_period: float, clock: Clock
    ) -> RateBucket: ...

    def gate(self, provider: str, *, ceiling_s: float, clock: Clock) -> RetryAfterGate: ...

    def tokens(self, provider: str, identity: str) -> SharedTokens | None:
        """Shared storage for the token `identity` names (never the secret), or None."""
        ...

    async def close(self) -> None: ...


def local_bucket(
    max_rate: float, time_period: float, *, clock: Clock, share: int = 1
) -> CallWindow:
    """This process's window for `max_rate / share` calls per `time_period` (see `window_of`)."""
    limit, period = window_of(max_rate / share, time_period)
    return CallWindow(limit, period, clock=clock)


class LocalFleet:
    """Each replica on its own: this share of every rate, its own gate, its own token."""

    def __init__(self, replicas: int = 1) -> None:
        self.replicas = replicas
        self.description = "local" if replicas == 1 else f"local (1/{replicas} of each rate)"

    def rate_bucket(
        self, provider: str, *, max_rate: float, time_period: float, clock: Clock
    ) -> RateBucket:
        return local_bucket(max_rate, time_period, clock=clock, share=self.replicas)

    def gate(self, provider: str, *, ceiling_s: float, clock: Clock) -> RetryAfterGate:
        return RetryAfterGate(provider, ceiling_s=ceiling_s, clock=clock)

    def tokens(self, provider: str, identity: str) -> SharedTokens | None:
        return None

    async def close(self) -> None:
        return None
