"""Flexport's stock reads and cache (`gateway/providers/flexport/stock.py`), alone: fake
pages, fake clock, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.providers.flexport import stock
from gateway.providers.flexport.stock import StockCache, paged_inventory
from gateway.providers.flexport.translate_inventory import PerWarehouse
from tests.unit.fakes import FakeClock


async def test_a_product_again_on_a_later_page_counts_once_with_its_later_row() -> None:
    pages = [
        [{"logisticsSku": "A", "available": 1}, {"logisticsSku": "B", "available": 2}],
        [{"logisticsSku": "B", "available": 3}],  # the catalogue shifted while paging
    ]
    asked: list[Mapping[str, str]] = []

    async def fetch(params: Mapping[str, str]) -> Any:
        asked.append(params)
        return pages[len(asked) - 1]

    assert await paged_inventory(fetch, per_page=2) == {"A": 1, "B": 3}
    assert [p["offset"] for p in asked] == ["0", "2"]  # the short page ends it


async def test_pages_that_never_end_are_read_up_to_the_bound() -> None:
    calls = 0

    async def fetch(params: Mapping[str, str]) -> Any:
        nonlocal calls
        calls += 1
        return [{"logisticsSku": f"S{params['offset']}", "available": 1}]

    units = await paged_inventory(fetch, per_page=1)
    assert calls == stock.MAX_PAGES
    assert len(units) == stock.MAX_PAGES


def _cache(clock: FakeClock, asked: list[list[str]], chunk: int = 2) -> StockCache:
    held = {"A": {"ATL1": 4}, "B": {"LAX2": 1}}

    async def load_warehouses(skus: Sequence[str]) -> PerWarehouse:
        asked.append(list(skus))
        return {s: held[s] for s in skus if s in held}

    async def load_all() -> dict[str, int]:
        asked.append(["*"])
        return {"A": 4, "B": 1}

    return StockCache(
        load_all=load_all, load_warehouses=load_warehouses, ttl_s=30, chunk=chunk, clock=clock
    )


async def test_products_are_read_in_chunks_kept_per_product_until_the_ttl() -> None:
    clock, asked = FakeClock(), []
    cache = _cache(clock, asked)

    first = await cache.per_warehouse(["C", "A", "B", "A"])
    again = await cache.per_warehouse(["A", "B"])
    clock.advance(30)
    await cache.per_warehouse(["A"])

    assert first == {"A": {"ATL1": 4}, "B": {"LAX2": 1}, "C": {}}  # C: not listed, holds none
    assert again == {"A": {"ATL1": 4}, "B": {"LAX2": 1}}
    assert asked == [["A", "B"], ["C"], ["A"]]


async def test_the_cache_alone_answers_however_old_and_none_for_what_was_never_read() -> None:
    clock, asked = FakeClock(), []
    cache = _cache(clock, asked)
    assert (cache.cached_account(), cache.cached_per_warehouse(["A"])) == (None, None)

    await cache.account()
    await cache.per_warehouse(["A"])
    clock.advance(10_000)

    assert cache.cached_account() == {"A": 4, "B": 1}
    assert cache.cached_per_warehouse(["A"]) == {"A": {"ATL1": 4}}
    assert cache.cached_per_warehouse(["A", "B"]) is None
    assert cache.cached_per_warehouse([]) == {}
    assert asked == [["*"], ["A"]]
