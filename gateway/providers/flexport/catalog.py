"""`ProductCatalog`: merchant SKU → Flexport `logisticsSku`, from the Products API.

Flexport documents no SKU filter on `GET /products` (docs/providers/flexport.md), so the
catalogue is paged into a snapshot that serves lookups for `ttl_s`. A SKU the snapshot lacks
reloads it — at most once per `refresh_min_s`, so an unknown SKU cannot make every order
page the whole catalogue. One load runs at a time however many orders wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import structlog

from gateway.clock import Clock
from gateway.providers.flexport.translate_products import page_params, products_of

log = structlog.get_logger(__name__)

Loader = Callable[[], AsyncIterator[tuple[str, str]]]
"""Yields (merchantSku, logisticsSku) for every product."""
MAX_PAGES = 1000
"""A guard against a provider whose pages never end."""


async def paged_products(
    fetch: Callable[[Mapping[str, str]], Awaitable[Any]], *, per_page: int
) -> AsyncIterator[tuple[str, str]]:
    """(merchantSku, logisticsSku) of every product, `GET /products?limit=&offset=` page by
    page until a short page. `fetch(params)` returns one page's JSON."""
    for page in range(MAX_PAGES):
        pairs, rows = products_of(await fetch(page_params(page, per_page)))
        for pair in pairs:
            yield pair
        if rows < per_page:
            return
    log.warning("provider.pagination.capped", provider="flexport", op="products", pages=MAX_PAGES)


class ProductCatalog:
    def __init__(self, load: Loader, *, ttl_s: float, refresh_min_s: float, clock: Clock) -> None:
        self._load = load
        self._ttl = ttl_s
        self._refresh_min = refresh_min_s
        self._clock = clock
        self._skus: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self.loads = 0

    async def resolve(self, skus: list[str]) -> dict[str, str | None]:
        """`logisticsSku` per merchant SKU (None: Flexport has no such product)."""
        if self._stale() or any(s not in self._skus for s in skus):
            async with self._lock:
                if self._stale() or (
                    any(s not in self._skus for s in skus) and self._may_refresh()
                ):
                    await self._reload()
        return {sku: self._skus.get(sku) for sku in skus}

    def known(self, skus: list[str]) -> dict[str, str | None] | None:
        """`resolve` from the snapshot alone, however old, never loading; None if no
        snapshot was ever loaded."""
        if self._loaded_at is None:
            return None
        return {sku: self._skus.get(sku) for sku in skus}

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock.monotonic() >= self._loaded_at + self._ttl

    def _may_refresh(self) -> bool:
        return (
            self._loaded_at is None
            or self._clock.monotonic() >= self._loaded_at + self._refresh_min
        )

    async def _reload(self) -> None:
        self.loads += 1
        fresh: dict[str, str] = {}
        async for merchant_sku, logistics_sku in self._load():
            fresh.setdefault(merchant_sku, logistics_sku)
        self._skus = fresh
        self._loaded_at = self._clock.monotonic()
