"""Flexport's config block and its products catalogue (pure: fake clock, fake pages)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.config_load import parse
from gateway.errors import ConfigError
from gateway.model.orders import Kind, Speed
from gateway.providers.flexport.catalog import ProductCatalog, paged_products
from gateway.providers.flexport.settings import FlexportSettings
from tests.unit.fakes import FakeClock


def config(**block: Any) -> dict[str, Any]:
    flexport = {
        "base_url": "https://logistics-api.flexport.com",
        "token_env": "FX",
        "warehouses": {"auto": {"kind": "d2c"}, "reserve": {"kind": "b2b"}, "any": {}},
    }
    return {"providers": {"flexport": {**flexport, **block}}}


def test_the_block_parses_with_kinds_and_ship_methods() -> None:
    settings = parse(config(ship_methods={"express": "FEDEX.2DAY"}), {"FX": "t"})
    flexport = settings.providers["flexport"]
    assert isinstance(flexport, FlexportSettings)
    assert flexport.api_version == "2026-02"
    assert {n: w.kind for n, w in flexport.warehouses.items()} == {
        "auto": Kind.D2C,
        "reserve": Kind.B2B,
        "any": None,
    }
    assert flexport.ship_methods == {Speed.EXPRESS: "FEDEX.2DAY"}
    assert flexport.stock_cache_ttl_s == 30.0  # as Logentic's
    assert [w.stock_warehouses for w in flexport.warehouses.values()] == [(), (), ()]


@pytest.mark.parametrize(
    ("block", "loc"),
    [
        ({"api_version": "2026-2"}, "providers.flexport.api_version"),
        ({"warehouses": {"x": {"kind": "edi"}}}, "providers.flexport.warehouses.x.kind"),
        ({"ship_methods": {"overnight": "X"}}, "providers.flexport.ship_methods.overnight.[key]"),
        ({"b2b_shipping_type": "BOAT"}, "providers.flexport.b2b_shipping_type"),
        (
            {"warehouses": {"x": {"stock_warehouses": ["ATL1", ""]}}},
            "providers.flexport.warehouses.x.stock_warehouses.1",
        ),
        ({"stock_cache_ttl_s": -1}, "providers.flexport.stock_cache_ttl_s"),
    ],
)
def test_bad_values_are_named_by_key(block: dict[str, Any], loc: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(config(**block), {"FX": "t"})
    assert loc in {p.loc for p in caught.value.problems}


def test_the_token_variable_must_be_set() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(config(), {})
    assert [p.loc for p in caught.value.problems] == ["providers.flexport.token_env"]


class Pages:
    """A fake Products API: `GET /products?limit=&offset=` over a list it can change."""

    def __init__(self, products: dict[str, str]) -> None:
        self.products = dict(products)
        self.calls: list[dict[str, str]] = []
        self.gate: asyncio.Event | None = None

    async def fetch(self, params: dict[str, str]) -> Any:
        self.calls.append(dict(params))
        if self.gate is not None:
            await self.gate.wait()
        rows = [{"merchantSku": m, "logisticsSku": lsku} for m, lsku in self.products.items()]
        offset, limit = int(params["offset"]), int(params["limit"])
        return rows[offset : offset + limit]

    def load(self) -> AsyncIterator[tuple[str, str]]:
        return paged_products(self.fetch, per_page=2)  # type: ignore[arg-type]


async def test_pages_are_read_until_a_short_one() -> None:
    pages = Pages({"A": "DA", "B": "DB", "C": "DC"})
    got = [pair async for pair in pages.load()]
    assert got == [("A", "DA"), ("B", "DB"), ("C", "DC")]
    assert [c["offset"] for c in pages.calls] == ["0", "2"]


async def test_a_snapshot_serves_until_its_ttl_then_is_reloaded() -> None:
    clock, pages = FakeClock(), Pages({"A": "DA"})
    catalog = ProductCatalog(pages.load, ttl_s=600, refresh_min_s=30, clock=clock)

    assert await catalog.resolve(["A"]) == {"A": "DA"}
    assert await catalog.resolve(["A"]) == {"A": "DA"}
    pages.products["A"] = "DA2"
    clock.advance(601)
    assert await catalog.resolve(["A"]) == {"A": "DA2"}
    assert catalog.loads == 2


async def test_a_miss_reloads_at_most_once_per_refresh_interval() -> None:
    clock, pages = FakeClock(), Pages({"A": "DA"})
    catalog = ProductCatalog(pages.load, ttl_s=600, refresh_min_s=30, clock=clock)
    await catalog.resolve(["A"])

    pages.products["B"] = "DB"
    assert await catalog.resolve(["B"]) == {"B": None}  # 0 s after the load: not again
    clock.advance(31)
    assert await catalog.resolve(["A", "B"]) == {"A": "DA", "B": "DB"}
    assert catalog.loads == 2


async def test_concurrent_lookups_share_one_load() -> None:
    pages = Pages({"A": "DA", "B": "DB"})
    pages.gate = asyncio.Event()
    catalog = ProductCatalog(pages.load, ttl_s=600, refresh_min_s=30, clock=FakeClock())
    waiting = [asyncio.ensure_future(catalog.resolve([sku])) for sku in ("A", "B", "A")]
    await asyncio.sleep(0)
    pages.gate.set()
    assert [await w for w in waiting] == [{"A": "DA"}, {"B": "DB"}, {"A": "DA"}]
    assert catalog.loads == 1
