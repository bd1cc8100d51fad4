"""`StockCache`: Flexport inventory as stock-aware routing reads it (docs/providers/flexport.md,
"Stock"), kept for `ttl_s` and, past that, still known to routing replay.

A gateway warehouse either names Flexport warehouse codes (`stock_warehouses`): its stock is
their `available` units together, from `POST /products/warehouse`, asked for the products an
order needs (at most `chunk` per call) and kept per product; or names none: Flexport picks
the origin warehouse itself, so its stock is the account's whole `available`, from
`GET /products/inventory/all` paged until an empty or short page (at most `MAX_PAGES`) and
kept as one snapshot. One refresh runs at a time however many orders route at once; the
account's runs on by itself when the order that started it stops waiting (routing gives
stock 2 s), so a catalogue paged for longer than that is still read once and then served.

`cached_*` never call Flexport: they answer from what was read, however old, and None when
something asked for was never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog

from gateway.clock import Clock
from gateway.providers.flexport.translate_inventory import (
    PerWarehouse,
    all_inventory_params,
    available_of,
    units_in,
)

log = structlog.get_logger(__name__)

MAX_PAGES = 1000
"""A guard against a provider whose inventory pages never end (100 000 products at 100 a
page); past it the snapshot holds what was read, and `provider.pagination.capped` is logged."""


async def paged_inventory(
    fetch: Callable[[Mapping[str, str]], Awaitable[Any]], *, per_page: int
) -> dict[str, int]:
    """logisticsSku → units available across the account: `GET /products/inventory/all`
    page by page until an empty or short page. `fetch(params)` returns one page's JSON."""
    units: dict[str, int] = {}
    for page in range(MAX_PAGES):
        found, rows = available_of(await fetch(all_inventory_params(page, per_page)))
        # A product again on a later page (offset paging while the catalogue changes) is
        # the same product: its later row counts, not both.
        units.update(found)
        if rows < per_page:
            return units
    log.warning("provider.pagination.capped", provider="flexport", op="inventory", pages=MAX_PAGES)
    return units


class StockCache:
    def __init__(
        self,
        *,
        load_all: Callable[[], Awaitable[dict[str, int]]],
        load_warehouses: Callable[[Sequence[str]], Awaitable[PerWarehouse]],
        ttl_s: float,
        chunk: int,
        clock: Clock,
    ) -> None:
        self._load_all = load_all
        self._load_warehouses = load_warehouses
        self._ttl = ttl_s
        self._chunk = chunk
        self._clock = clock
        self._account: tuple[float, dict[str, int]] | None = None
        """(read at, logisticsSku → units) of the whole account."""
        self._products: dict[str, tuple[float, dict[str, int]]] = {}
        """logisticsSku → (read at, warehouse code → units)."""
        self._lock = asyncio.Lock()
        self._reading: asyncio.Task[dict[str, int]] | None = None
        """The account read under way, which callers that stop waiting leave running."""

    async def account(self) -> dict[str, int]:
        """logisticsSku → units available anywhere, read again once `ttl_s` has passed."""
        if self._account is not None and not self._stale(self._account[0]):
            return self._account[1]
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_account())
        return await asyncio.shield(self._reading)

    async def _read_account(self) -> dict[str, int]:
        try:
            units = await self._load_all()
            self._account = (self._clock.monotonic(), units)
            return units
        finally:
            self._reading = None

    async def close(self) -> None:
        """Stop an account read under way."""
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)

    async def per_warehouse(self, logistics_skus: Sequence[str]) -> PerWarehouse:
        """Warehouse code → units, for each of these products (read again once `ttl_s` has
        passed; a product Flexport does not list holds nothing anywhere)."""
        wanted = sorted(set(logistics_skus))
        async with self._lock:
            stale = [s for s in wanted if s not in self._products or self._stale_product(s)]
            for start in range(0, len(stale), self._chunk):
                part = stale[start : start + self._chunk]
                read = await self._load_warehouses(part)
                now = self._clock.monotonic()
                for sku in part:
                    self._products[sku] = (now, read.get(sku, {}))
            return {sku: self._products[sku][1] for sku in wanted}

    def cached_account(self) -> dict[str, int] | None:
        """The last account snapshot read, however old; None if none was ever read."""
        return None if self._account is None else self._account[1]

    def cached_per_warehouse(self, logistics_skus: Sequence[str]) -> PerWarehouse | None:
        """The last units read of each of these products, however old; None if one of them
        was never read."""
        if any(sku not in self._products for sku in logistics_skus):
            return None
        return {sku: self._products[sku][1] for sku in logistics_skus}

    def _stale(self, read_at: float) -> bool:
        return self._clock.monotonic() >= read_at + self._ttl

    def _stale_product(self, sku: str) -> bool:
        return self._stale(self._products[sku][0])


def held(ids: Mapping[str, str | None], units: Mapping[str, int]) -> dict[str, int]:
    """merchant SKU → units, from the account's units per logisticsSku (`ids`: merchant
    SKU → logisticsSku, None for a SKU Flexport has no product for: 0 units)."""
    return {sku: units.get(lsku, 0) if lsku else 0 for sku, lsku in ids.items()}


def held_in(
    ids: Mapping[str, str | None], per: PerWarehouse, codes: Sequence[str]
) -> dict[str, int]:
    """merchant SKU → units in the Flexport warehouses `codes` together."""
    return {sku: units_in(per.get(lsku, {}), codes) if lsku else 0 for sku, lsku in ids.items()}
