"""Flexport Products API answers (`GET /products`) read into the catalogue's (merchantSku,
logisticsSku) pairs (docs/providers/flexport.md). Pure: no I/O."""

from __future__ import annotations

from typing import Any


def page_params(page: int, per_page: int) -> dict[str, str]:
    """The query of page `page` (from 0) of `GET /products`."""
    return {"limit": str(per_page), "offset": str(page * per_page)}


def products_of(body: Any) -> tuple[list[tuple[str, str]], int]:
    """(merchantSku, logisticsSku) of each product on one page of `GET /products` (a bare
    array, or one under `products`/`data`/`items`), and how many rows the page held."""
    if isinstance(body, dict):
        body = next(
            (body[k] for k in ("products", "data", "items") if isinstance(body.get(k), list)), body
        )
    rows = [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []
    pairs = [(r["merchantSku"], r["logisticsSku"]) for r in rows if _is_product(r)]
    return pairs, len(rows)


def _is_product(row: dict[str, Any]) -> bool:
    merchant, logistics = row.get("merchantSku"), row.get("logisticsSku")
    return isinstance(merchant, str) and isinstance(logistics, str) and bool(logistics)
