"""`RateLimiter`: a provider account's rate (aiolimiter, or the fleet's shared bucket) and cap."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter

from gateway.transport.fleet import RateBucket


class RateLimiter:
    """A rate bucket (this replica's, or the fleet's) and a semaphore for the concurrency cap.

    The cap is per process: it bounds this replica's sockets, not the provider's load, which
    the rate does.
    """

    def __init__(
        self,
        *,
        max_rate: float = 10,
        time_period: float = 1.0,
        max_concurrency: int,
        bucket: RateBucket | None = None,
    ) -> None:
        self._bucket = bucket if bucket is not None else AsyncLimiter(max_rate, time_period)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._cap = max_concurrency

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            await self._bucket.acquire()
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._slots.release()

    @property
    def in_flight(self) -> int:
        return self._cap - self._slots._value  # asyncio keeps no public count
