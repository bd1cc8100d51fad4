"""`LogenticAdapter`: the only module that talks to Logentic (docs/providers/logentic.md).

Static bearer token; orders by Logentic `item_id` (SKU lookup via `ItemCatalog`); lists are
page-based and followed through `meta.pagination.links.next`; cancel is `PUT` with status
`CANCELLED` while the order is pending; stock comes from `item_quantities` per warehouse.
There is no idempotency key: a create whose answer was lost is reconciled by `find`
(orders by `external_name`) before it is ever sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import aiohttp
import structlog

from gateway.errors import FieldError, Invalid, ProviderError, Unavailable
from gateway.providers.base import (
    Capabilities,
    ProviderEvent,
    ProviderOrder,
    ProviderOrderRef,
    StockSnapshot,
    Submission,
)
from gateway.providers.http import HttpProvider, settled, unanswered
from gateway.providers.logentic import problems, translate, webhooks
from gateway.providers.logentic.catalog import ItemCatalog
from gateway.providers.logentic.settings import LogenticSettings
from gateway.transport import Response, StaticBearer
from gateway.transport.auth import Auth

log = structlog.get_logger(__name__)

NAME = "logentic"
MAX_PAGES = 1000
"""A guard against a provider whose `next` link never ends."""


class LogenticAdapter(HttpProvider[LogenticSettings]):
    name = NAME
    # Every path, in one place (Logentic's route catalogue).
    PATHS: ClassVar[Mapping[str, tuple[str, str]]] = {
        "create": ("POST", "/orders"),
        "list": ("GET", "/orders"),
        "get": ("GET", "/orders/{id}"),
        "update": ("PUT", "/orders/{id}"),
        "items": ("GET", "/items"),
        "create_item": ("POST", "/items"),
        "quantities": ("GET", "/items/item_quantities"),
    }

    def _configure(self) -> None:
        settings = self.settings
        self.capabilities = Capabilities(
            cancel=True,
            update=True,
            stock=True,
            webhooks=settings.webhook_secret_env is not None,
        )
        self.catalog = ItemCatalog(
            self._lookup_item,
            ttl_s=settings.item_cache_ttl_s,
            miss_ttl_s=settings.item_miss_ttl_s,
            clock=self._clock,
        )
        self._stock: tuple[float, dict[int, dict[str, int]]] | None = None
        self._stock_lock = asyncio.Lock()

    def _auth(self, session: aiohttp.ClientSession) -> Auth:
        return StaticBearer(self._secrets.reveal(self.settings.token_env))

    # orders --------------------------------------------------------------------
    def check(self, submission: Submission) -> list[FieldError]:
        return translate.check(submission.order)

    async def create(self, submission: Submission) -> ProviderOrderRef:
        resp = await self._call("create", json=await self._body(submission), retry_unknown=False)
        order_id = translate.order_id_of(resp.json())
        if order_id is None:
            raise unanswered(NAME, resp, "create answered without data.id", outcome_unknown=True)
        return ProviderOrderRef(order_id)

    async def find(self, submission: Submission) -> ProviderOrderRef | None:
        wanted = submission.reference
        async for order in self.list_orders(external_name=wanted):
            if (found := translate.order_id_for(order, wanted)) is not None:
                return ProviderOrderRef(found)
        return None

    async def get(self, ref: ProviderOrderRef) -> ProviderOrder:
        resp = await self._call("get", ident=ref.id, retry_unknown=True)
        return _order(ref.id, resp)

    async def confirm(self, ref: ProviderOrderRef) -> ProviderOrder:
        # Logentic has no confirm step; PENDING already means "Logentic holds it".
        return await self.get(ref)

    async def cancel(self, ref: ProviderOrderRef) -> ProviderOrder:
        """Only a PENDING order may change (Logentic: "Updates a pending order")."""
        resp = await self._call(
            "update", ident=ref.id, json=translate.to_cancel(), retry_unknown=True
        )
        return _order(ref.id, resp)

    async def update(self, ref: ProviderOrderRef, submission: Submission) -> ProviderOrder:
        """`PUT /orders/{id}` with the order's fields; only while PENDING (else `Conflict`)."""
        body = await self._body(submission)
        resp = await self._call("update", ident=ref.id, json=body, retry_unknown=True)
        return _order(ref.id, resp)

    async def _body(self, submission: Submission) -> dict[str, Any]:
        """The order as `POST /orders` and `PUT /orders/{id}` take it."""
        warehouse_id = self.settings.warehouses[submission.warehouse].warehouse_id
        item_ids = await self._item_ids(submission)
        return translate.to_order(
            submission.order,
            reference=submission.reference,
            warehouse_id=warehouse_id,
            item_ids=item_ids,
        )

    async def list_orders(self, **filters: str) -> AsyncIterator[dict[str, Any]]:
        """Every order matching `filters`, page after page."""
        async for order in self._pages("list", filters):
            yield order

    # items and stock -------------------------------------------------------------
    async def _item_ids(self, submission: Submission) -> dict[str, int]:
        lines = submission.order.lines
        bound = self.settings.max_unknown_skus
        found = await self.catalog.resolve(sorted({line.sku for line in lines}), max_unknown=bound)
        unasked = any(line.sku not in found for line in lines)
        missing = [
            (i, line)
            for i, line in enumerate(lines)
            if line.sku in found and found[line.sku] is None
        ]
        if missing and self.settings.create_missing_items and not unasked:
            for i, line in missing:
                lacking = translate.item_problems(line, i)
                if lacking:
                    raise Invalid(NAME, "an unknown item cannot be created", fields=lacking)
                if found.get(line.sku) is None:
                    item_id = await self._create_item(
                        translate.to_item(line, weight_unit=self.settings.weight_unit)
                    )
                    found[line.sku] = item_id
                    self.catalog.remember(line.sku, item_id)
            missing = []
        if missing:
            # Stopped early: the SKUs past the bound were never asked (the account's rate
            # limit is every tenant's), so the answer names those found missing so far.
            raise problems.unknown_items(missing, stopped_after=bound if unasked else None)
        return {sku: item for sku, item in found.items() if item is not None}

    async def _lookup_item(self, sku: str) -> int | None:
        async for item in self._pages("items", {"external_name": sku}):
            if (found := translate.item_id_for(item, sku)) is not None:
                return found
        return None

    async def _create_item(self, body: dict[str, Any]) -> int:
        resp = await self._call("create_item", json=body, retry_unknown=False)
        item_id = translate.order_id_of(resp.json())
        if item_id is None:
            raise Unavailable(NAME, "item create answered without data.id", status=resp.status)
        log.info("provider.item.created", provider=NAME, sku=body["external_name"], item_id=item_id)
        return int(item_id)

    async def stock(self, warehouse: str, skus: list[str]) -> StockSnapshot:
        """Units to ship (`supply`) per SKU in one warehouse, from a briefly cached snapshot."""
        by_warehouse = await self._quantities()
        held = by_warehouse.get(self.settings.warehouses[warehouse].warehouse_id, {})
        return {sku: held.get(sku, 0) for sku in skus}

    def cached_stock(self, warehouse: str, skus: list[str]) -> StockSnapshot | None:
        """`stock` from the last snapshot read, however old, without calling Logentic; None
        if none was ever read."""
        if self._stock is None:
            return None
        held = self._stock[1].get(self.settings.warehouses[warehouse].warehouse_id, {})
        return {sku: held.get(sku, 0) for sku in skus}

    async def _quantities(self) -> dict[int, dict[str, int]]:
        async with self._stock_lock:  # one refresh however many orders route at once
            cached = self._stock
            if cached is not None and self._clock.monotonic() < cached[0]:
                return cached[1]
            snapshot = translate.quantities_of([rec async for rec in self._pages("quantities")])
            self._stock = (self._clock.monotonic() + self.settings.stock_cache_ttl_s, snapshot)
            return snapshot

    # webhooks --------------------------------------------------------------------
    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        secret = self._reveal(self.settings.webhook_secret_env)
        webhooks.precheck(headers, secret, header=self.settings.signature_header)

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        s = self.settings
        webhooks.verify(
            headers, body, self._reveal(s.webhook_secret_env), header=s.signature_header
        )
        return webhooks.events(headers, body, topic_header=s.topic_header)

    # the boundary ----------------------------------------------------------------
    async def _pages(
        self, op: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Rows of a list endpoint, following `meta.pagination.links.next` until it is null
        (its query only, against our own base URL: `translate.page_of`)."""
        query: dict[str, str] | None = {**(params or {}), "per_page": str(self.settings.per_page)}
        for _page in range(MAX_PAGES):
            resp = await self._call(op, params=query, retry_unknown=True)
            page = translate.page_of(resp.json())
            if page is None:
                raise unanswered(NAME, resp, f"{op} answered without a data list")
            rows, query = page
            for row in rows:
                yield row
            if query is None:
                return
        log.warning("provider.pagination.capped", provider=NAME, op=op, pages=MAX_PAGES)

    def _problem(self, op: str, resp: Response, lines: Sequence[int] | None) -> ProviderError:
        return problems.to_error(op, resp.status, resp.json(), correlation_id=resp.correlation_id)


def _order(provider_order_id: str, resp: Response) -> ProviderOrder:
    parsed = translate.order_of(provider_order_id, resp.json())
    return settled(NAME, resp, parsed, "answer without data.status")
