"""`RateLimiter`: a provider account's rate (this replica's window, or the fleet's) and cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.transport.fleet import RateBucket


class RateLimiter:
    """A rate bucket (this replica's, or the fleet's) and a semaphore for the concurrency cap.

    The cap is per process: it bounds this replica's sockets, not the provider's load, which
    the rate does.
    """

    def __init__(self, *, max_concurrency: int, bucket: RateBucket) -> None:
        self._bucket = bucket
        self._slots = asyncio.Semaphore(max_concurrency)
        self._cap = max_concurrency

    @asynccontextmanager
    async def request(self, *, longest_s: float) -> AsyncIterator[None]:
        """Room for one HTTP request, held until its answer is in (`longest_s` at most)."""
        async with self._slots:
            slot = await self._bucket.acquire(longest_s=longest_s)
            try:
                yield
            finally:
                slot.release()

    @property
    def in_flight(self) -> int:
        return self._cap - self._slots._value  # asyncio keeps no public count
