"""`ItemCatalog`: SKU → Logentic item_id, cached with a TTL, looked up again on a miss.

An item found is trusted for `ttl_s`. A SKU Logentic has no item for is remembered as missing
for `miss_ttl_s` only (short: an item created at Logentic is found again soon after), so an
order repeating unknown SKUs does not look them up again through the account's shared rate
limit. `resolve` can stop after a number of unknown SKUs, so one order cannot make a look-up
for each of its (up to a thousand) lines. Concurrent lookups of one SKU share one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.clock import Clock

Lookup = Callable[[str], Awaitable[int | None]]


class ItemCatalog:
    def __init__(self, lookup: Lookup, *, ttl_s: float, miss_ttl_s: float, clock: Clock) -> None:
        self._lookup = lookup
        self._ttl = ttl_s
        self._miss_ttl = miss_ttl_s
        self._clock = clock
        self._known: dict[str, tuple[int | None, float]] = {}
        self._inflight: dict[str, asyncio.Future[int | None]] = {}
        self.lookups = 0

    async def resolve(
        self, skus: list[str], *, max_unknown: int | None = None
    ) -> dict[str, int | None]:
        """item_id per SKU (None: Logentic has no such item).

        With `max_unknown`, no more look-ups are made once that many SKUs are unknown: the
        SKUs left unasked are not in the answer.
        """
        out: dict[str, int | None] = {}
        pending = []
        for sku in skus:
            hit = self._known.get(sku)
            if hit is not None and self._clock.monotonic() < hit[1]:
                out[sku] = hit[0]
            else:
                pending.append(sku)
        unknown = sum(1 for item in out.values() if item is None)
        while pending and (max_unknown is None or unknown < max_unknown):
            # Each round asks at most as many as may still be unknown: never more look-ups
            # of unknown SKUs than `max_unknown`, however the answers fall.
            size = len(pending) if max_unknown is None else max_unknown - unknown
            asked, pending = pending[:size], pending[size:]
            found = await asyncio.gather(*(self._one(sku) for sku in asked))
            out.update(zip(asked, found, strict=True))
            unknown += found.count(None)
        return out

    def remember(self, sku: str, item_id: int) -> None:
        """An item created for `sku` (it replaces a remembered miss)."""
        self._known[sku] = (item_id, self._clock.monotonic() + self._ttl)

    def forget(self, sku: str) -> None:
        self._known.pop(sku, None)

    async def _one(self, sku: str) -> int | None:
        if sku in self._inflight:
            return await self._inflight[sku]
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._inflight[sku] = future
        try:
            self.lookups += 1
            item_id = await self._lookup(sku)
            ttl = self._ttl if item_id is not None else self._miss_ttl
            if ttl > 0:
                self._known[sku] = (item_id, self._clock.monotonic() + ttl)
            future.set_result(item_id)
            return item_id
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # the waiters re-raise it; do not warn "never retrieved"
            raise
        finally:
            del self._inflight[sku]
