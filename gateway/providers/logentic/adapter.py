"""`LogenticAdapter`: the only module that talks to Logentic (docs/providers/logentic.md).

Static bearer token; orders by Logentic `item_id` (SKU lookup via `ItemCatalog`); lists are
page-based and followed through `meta.pagination.links.next`; cancel is `PUT` with status
`CANCELLED` while the order is pending; stock comes from `item_quantities` per warehouse.
There is no idempotency key: a create whose answer was lost is reconciled by `find`
(orders by `external_name`) before it is ever sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import structlog

from gateway.config import Secrets, resolve_url
from gateway.errors import Conflict, FieldError, Invalid, ProviderError, Unavailable
from gateway.model.orders import Status
from gateway.observability.state import ProviderState
from gateway.providers.base import (
    Capabilities,
    ProviderContext,
    ProviderEvent,
    ProviderOrder,
    StockSnapshot,
    Submission,
    error_for_status,
)
from gateway.providers.logentic import translate, webhooks
from gateway.providers.logentic.catalog import ItemCatalog
from gateway.providers.logentic.settings import LogenticSettings
from gateway.transport import SYSTEM_CLOCK, Clock, ProviderTransport, Response, StaticBearer

log = structlog.get_logger(__name__)

NAME = "logentic"

# Every path, in one place (Logentic's route catalogue).
PATHS = {
    "create": ("POST", "/orders"),
    "list": ("GET", "/orders"),
    "get": ("GET", "/orders/{id}"),
    "update": ("PUT", "/orders/{id}"),
    "items": ("GET", "/items"),
    "create_item": ("POST", "/items"),
    "quantities": ("GET", "/items/item_quantities"),
}
MAX_PAGES = 1000
"""A guard against a provider whose `next` link never ends."""


class LogenticAdapter:
    name = NAME

    def __init__(
        self,
        settings: LogenticSettings,
        secrets: Secrets,
        ctx: ProviderContext,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self._secrets = secrets
        self._ctx = ctx
        self._clock = clock
        self.capabilities = Capabilities(
            cancel=True,
            update=True,
            stock=True,
            webhooks=settings.webhook_secret_env is not None,
        )
        self._session: aiohttp.ClientSession | None = None
        self._transport: ProviderTransport | None = None
        self.catalog = ItemCatalog(
            self._lookup_item,
            ttl_s=settings.item_cache_ttl_s,
            miss_ttl_s=settings.item_miss_ttl_s,
            clock=clock,
        )
        self._stock: tuple[float, dict[int, dict[str, int]]] | None = None
        self._stock_lock = asyncio.Lock()

    # lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_concurrency + 2)
        )
        self._transport = ProviderTransport(
            NAME,
            s,
            base_url=resolve_url(s.base_url, self._ctx.self_url),
            session=self._session,
            clock=self._clock,
            auth=StaticBearer(self._secrets.reveal(s.token_env)),
            metrics=self._ctx.metrics.provider(NAME),
            fleet=self._ctx.fleet,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def transport(self) -> ProviderTransport:
        assert self._transport is not None, "start() first"
        return self._transport

    def healthy(self) -> bool:
        return self.transport.breaker.healthy()

    def state(self) -> ProviderState:
        return self.transport.state()

    # orders --------------------------------------------------------------------
    def check(self, submission: Submission) -> list[FieldError]:
        return translate.check(submission.order)

    async def create(self, submission: Submission) -> str:
        order = submission.order
        warehouse_id = self.settings.warehouses[submission.warehouse].warehouse_id
        item_ids = await self._item_ids(submission)
        body = translate.to_order(
            order, reference=submission.reference, warehouse_id=warehouse_id, item_ids=item_ids
        )
        resp = await self._call("create", json=body, retry_unknown=False)
        order_id = translate.order_id_of(resp.json())
        if order_id is None:
            raise Unavailable(
                NAME,
                "create answered without data.id",
                outcome_unknown=True,
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        return order_id

    async def find(self, submission: Submission) -> str | None:
        wanted = submission.reference
        async for order in self.list_orders(external_name=wanted):
            if order.get("external_name") == wanted and order.get("status") != "CANCELLED":
                return str(order["id"])
        return None

    async def get(self, provider_order_id: str) -> ProviderOrder:
        resp = await self._call("get", order_id=provider_order_id, retry_unknown=True)
        return _provider_order(provider_order_id, resp)

    async def confirm(self, provider_order_id: str) -> ProviderOrder:
        # Logentic has no confirm step; PENDING already means "Logentic holds it".
        return await self.get(provider_order_id)

    async def cancel(self, provider_order_id: str) -> ProviderOrder:
        """Only a PENDING order may change (Logentic: "Updates a pending order")."""
        resp = await self._call(
            "update", order_id=provider_order_id, json={"status": "CANCELLED"}, retry_unknown=True
        )
        return _provider_order(provider_order_id, resp)

    async def update(self, provider_order_id: str, submission: Submission) -> ProviderOrder:
        """`PUT /orders/{id}` with the order's fields; only while PENDING (else `Conflict`)."""
        warehouse_id = self.settings.warehouses[submission.warehouse].warehouse_id
        item_ids = await self._item_ids(submission)
        body = translate.to_order(
            submission.order,
            reference=submission.reference,
            warehouse_id=warehouse_id,
            item_ids=item_ids,
        )
        resp = await self._call("update", order_id=provider_order_id, json=body, retry_unknown=True)
        return _provider_order(provider_order_id, resp)

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
                problems = translate.item_problems(line, i)
                if problems:
                    raise Invalid(NAME, "an unknown item cannot be created", fields=problems)
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
            stopped = f" (stopped looking after {bound} unknown SKUs)" if unasked else ""
            raise Invalid(
                NAME,
                "no Logentic item for SKU "
                + ", ".join(sorted({m.sku for _i, m in missing}))
                + stopped,
                code="unknown-sku",
                fields=[
                    FieldError(
                        f"lines[{i}].sku", f"logentic has no item with external_name {line.sku!r}"
                    )
                    for i, line in missing
                ],
            )
        return {sku: item for sku, item in found.items() if item is not None}

    async def _lookup_item(self, sku: str) -> int | None:
        async for item in self._pages("items", {"external_name": sku}):
            if item.get("external_name") == sku and isinstance(item.get("id"), int):
                return int(item["id"])
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

    async def _quantities(self) -> dict[int, dict[str, int]]:
        async with self._stock_lock:  # one refresh however many orders route at once
            cached = self._stock
            if cached is not None and self._clock.monotonic() < cached[0]:
                return cached[1]
            snapshot: dict[int, dict[str, int]] = {}
            async for rec in self._pages("quantities", {}):
                sku, warehouse_id = rec.get("sku"), rec.get("warehouse_id")
                supply = rec.get("supply")
                if (
                    isinstance(sku, str)
                    and isinstance(warehouse_id, int)
                    and isinstance(supply, int | float)
                ):
                    per = snapshot.setdefault(warehouse_id, {})
                    per[sku] = per.get(sku, 0) + max(0, int(supply))
            self._stock = (self._clock.monotonic() + self.settings.stock_cache_ttl_s, snapshot)
            return snapshot

    # webhooks --------------------------------------------------------------------
    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        webhooks.precheck(headers, self._webhook_secret(), header=self.settings.signature_header)

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        webhooks.verify(
            headers, body, self._webhook_secret(), header=self.settings.signature_header
        )
        return webhooks.events(headers, body, topic_header=self.settings.topic_header)

    def _webhook_secret(self) -> str | None:
        env = self.settings.webhook_secret_env
        return self._secrets.reveal(env) if env else None

    # the boundary: HTTP answers become the error tree here, and only here -----------
    async def _pages(self, op: str, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """Rows of a list endpoint, following `meta.pagination.links.next` until it is null.

        Only the next link's query is used, against our own base URL: the bearer token is
        never sent to a host a response names.
        """
        query = {**params, "per_page": str(self.settings.per_page)}
        for _page in range(MAX_PAGES):
            resp = await self._call(op, params=query, retry_unknown=True)
            body = resp.json()
            rows = body.get("data") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise Unavailable(
                    NAME,
                    f"{op} answered without a data list",
                    status=resp.status,
                    correlation_id=resp.correlation_id,
                )
            for row in rows:
                if isinstance(row, dict):
                    yield row
            link = _next_link(body)
            if not link or not rows:
                return
            query = dict(parse_qsl(urlsplit(link).query))
        log.warning("provider.pagination.capped", provider=NAME, op=op, pages=MAX_PAGES)

    async def _call(
        self,
        op: str,
        *,
        order_id: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_unknown: bool,
    ) -> Response:
        return await self.transport.call(
            op,
            PATHS[op],
            error=self._error,
            order_id=order_id,
            json=json,
            params=params,
            retry_unknown=retry_unknown,
        )

    def _error(self, op: str, resp: Response) -> ProviderError:
        body = resp.json()
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or f"HTTP {resp.status}")
        if op == "update" and resp.status == 422 and "pending" in message.lower():
            error: ProviderError = Conflict(
                NAME,
                message,
                code="not-pending",
                correlation_id=resp.correlation_id,
                status=resp.status,
            )
        else:
            error = error_for_status(
                NAME,
                resp.status,
                code=None,
                message=f"{op}: {message}",
                correlation_id=resp.correlation_id,
                fields=translate.field_errors(body),
            )
        log.info("provider.call.failed", op=op, **error.describe())
        return error


def _next_link(body: dict[str, Any]) -> str | None:
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    links = pagination.get("links") if isinstance(pagination, dict) else None
    nxt = links.get("next") if isinstance(links, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None


def _provider_order(provider_order_id: str, resp: Response) -> ProviderOrder:
    body = resp.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise Unavailable(
            NAME,
            "answer without data.status",
            status=resp.status,
            correlation_id=resp.correlation_id,
        )
    raw = data["status"]
    status = translate.status_of(raw)
    if status is None:
        log.warning("provider.status.unknown", provider=NAME, raw_status=raw)
        status = Status.IN_PROGRESS
    return ProviderOrder(provider_order_id, status, raw)
