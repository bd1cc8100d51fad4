"""`ItemCatalog`: SKU → Logentic item_id, cached with a TTL, looked up again on a miss.

Only answers are cached: a SKU the cache does not hold is always asked of Logentic, so an
item created after a first miss is found on the next order. Concurrent lookups of one SKU
share one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.transport.clock import Clock

Lookup = Callable[[str], Awaitable[int | None]]


class ItemCatalog:
    def __init__(self, lookup: Lookup, *, ttl_s: float, clock: Clock) -> None:
        self._lookup = lookup
        self._ttl = ttl_s
        self._clock = clock
        self._known: dict[str, tuple[int, float]] = {}
        self._inflight: dict[str, asyncio.Future[int | None]] = {}
        self.lookups = 0

    async def resolve(self, skus: list[str]) -> dict[str, int | None]:
        """item_id per SKU (None: Logentic has no such item)."""
        found = await asyncio.gather(*(self._one(sku) for sku in skus))
        return dict(zip(skus, found, strict=True))

    def forget(self, sku: str) -> None:
        self._known.pop(sku, None)

    async def _one(self, sku: str) -> int | None:
        hit = self._known.get(sku)
        if hit is not None and self._clock.monotonic() < hit[1]:
            return hit[0]
        if sku in self._inflight:
            return await self._inflight[sku]
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._inflight[sku] = future
        try:
            self.lookups += 1
            item_id = await self._lookup(sku)
            if item_id is not None:
                self._known[sku] = (item_id, self._clock.monotonic() + self._ttl)
            future.set_result(item_id)
            return item_id
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # the waiters re-raise it; do not warn "never retrieved"
            raise
        finally:
            del self._inflight[sku]
