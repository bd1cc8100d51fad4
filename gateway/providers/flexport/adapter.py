"""`FlexportAdapter`: the only module that talks to Flexport (docs/providers/flexport.md).

Paths are `/logistics/api/<api_version>/…` under `base_url`; a long-lived bearer token that
never refreshes: a 401 is a credential problem an operator must fix (shown in `/readyz`).
Every create carries `idempotency-key: <gateway order id>:create`, so the transport may resend
it after a timeout and a reconciled create is the same order; `idempotent-replayed` answers
are logged. A create whose answer was lost is first looked for by external id (`find`).

D2C orders and B2B outbounds live under different paths. A provider order id does not say
which API holds it, so the order's kind goes with its id: create and find return it as the
ref's data (`{"kind": "b2b"}`), the store keeps it on the order's row, and every later call
by id takes it back (`_by_id`). An order stored before that has no kind: the D2C API is
asked first and the B2B API on a 404 (only APIs a configured warehouse can use are asked).
Returns (account approval: `returns_enabled`) are the `returns` part, in `returns.py`.
Stock for stock-aware routing is the Products API inventory (`stock.py`, `translate_inventory.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import structlog

from gateway.errors import Conflict, FieldError, Forbidden, NotFound, ProviderError
from gateway.model.orders import Kind
from gateway.observability.state import ProviderState
from gateway.providers.base import (
    Capabilities,
    ProviderEvent,
    ProviderOrder,
    ProviderOrderRef,
    StockSnapshot,
    Submission,
)
from gateway.providers.flexport import problems, translate, translate_inventory, webhooks
from gateway.providers.flexport.catalog import ProductCatalog, paged_products
from gateway.providers.flexport.returns import FlexportReturns
from gateway.providers.flexport.settings import FlexportSettings
from gateway.providers.flexport.stock import StockCache, held, held_in, paged_inventory
from gateway.providers.http import HttpProvider, settled, still_unseen, unanswered
from gateway.transport import Response, StaticBearer
from gateway.transport.auth import Auth
from gateway.transport.backoff import parse_retry_after

log = structlog.get_logger(__name__)

NAME = "flexport"
KIND = "kind"
"""The key of a ref's data that names the API holding the order (a `Kind` value)."""


def _op(kind: Kind, op: str) -> str:
    return op if kind is Kind.D2C else f"b2b_{op}"


def _ref(kind: Kind, provider_order_id: str) -> ProviderOrderRef:
    return ProviderOrderRef(provider_order_id, {KIND: kind.value})


def _kind_in(ref: ProviderOrderRef) -> Kind | None:
    """The API holding the order, as kept with it; None (ask each API) for an order kept
    without one, or with a kind this version does not know."""
    try:
        return Kind(ref.data.get(KIND, ""))
    except ValueError:
        return None


class FlexportAdapter(HttpProvider[FlexportSettings]):
    name = NAME
    # Every path, in one place (where each comes from: docs/providers/flexport.md).
    PATHS: ClassVar[Mapping[str, tuple[str, str]]] = {
        "create": ("POST", "/orders"),
        "get": ("GET", "/orders/{id}"),
        "find": ("GET", "/orders/external_id/{id}"),
        "cancel": ("POST", "/orders/{id}/cancel"),
        "b2b_create": ("POST", "/orders/rs"),
        "b2b_get": ("GET", "/orders/rs/{id}"),
        "b2b_find": ("GET", "/orders/rs/external_id/{id}"),
        "b2b_cancel": ("POST", "/orders/rs/{id}/cancel"),
        "return_create": ("POST", "/returns"),
        "return_list": ("GET", "/returns"),
        "return_get": ("GET", "/returns/{id}"),
        "return_cancel": ("POST", "/returns/{id}/cancel"),
        "products": ("GET", "/products"),
        "inventory": ("GET", "/products/inventory/all"),
        "inventory_by_warehouse": ("POST", "/products/warehouse"),
        "warehouses": ("GET", "/warehouses/active"),
    }

    def _configure(self) -> None:
        settings = self.settings
        self.capabilities = Capabilities(
            cancel=True,
            webhooks=settings.webhook_secret_env is not None,
            returns=settings.returns_enabled,  # returns are `returns.py`
            stock=True,
        )
        self.returns = FlexportReturns(self._call)
        self._config_errors: dict[str, str] = {}
        self.catalog = ProductCatalog(
            lambda: paged_products(self._products_page, per_page=settings.per_page),
            ttl_s=settings.catalog_ttl_s,
            refresh_min_s=settings.catalog_refresh_min_s,
            clock=self._clock,
        )
        self.stock_cache = StockCache(
            load_all=lambda: paged_inventory(self._inventory_page, per_page=settings.per_page),
            load_warehouses=self._inventory_by_warehouse,
            ttl_s=settings.stock_cache_ttl_s,
            chunk=settings.per_page,
            clock=self._clock,
        )
        pinned = {w.kind for w in settings.warehouses.values()}
        # A warehouse without a pinned kind takes both kinds of order.
        self._apis = [k for k in (Kind.D2C, Kind.B2B) if k in pinned or None in pinned]

    # lifecycle -----------------------------------------------------------------
    def _auth(self, session: aiohttp.ClientSession) -> Auth:
        return StaticBearer(self._secrets.reveal(self.settings.token_env))

    def _base_url(self) -> str:
        return f"{super()._base_url()}/logistics/api/{self.settings.api_version}"

    def _path_id(self, ident: str) -> str:
        return quote(ident, safe="")

    def _probes(self) -> bool:
        return self.settings.probe_token

    async def _probe(self) -> None:
        """`GET /warehouses/active` (Flexport's quickstart check): a 401 shows in /readyz; a
        403 only means the token lacks `read_logistics_warehouses`."""
        await self._call("warehouses", retry_unknown=True)

    async def close(self) -> None:
        await self.stock_cache.close()
        await super().close()

    def _probe_refused(self, exc: ProviderError) -> None:
        log.info("provider.token.probe", provider=NAME, outcome=exc.kind)

    def state(self) -> ProviderState:
        errors = "; ".join(sorted(set(self._config_errors.values())))
        return self.transport.state(configuration_error=errors or None)

    # orders --------------------------------------------------------------------
    def kind(self, submission: Submission) -> Kind:
        return translate.kind_of(submission.order, self._pinned(submission))

    def _pinned(self, submission: Submission) -> Kind | None:
        warehouse = self.settings.warehouses.get(submission.warehouse)
        return warehouse.kind if warehouse is not None else None

    def check(self, submission: Submission) -> list[FieldError]:
        order, pinned = submission.order, self._pinned(submission)
        refused = []
        if pinned is not None and pinned is not order.kind:
            refused.append(
                FieldError(
                    "kind",
                    f"flexport warehouse {submission.warehouse!r} takes {pinned.value} orders "
                    f"only; this order is {order.kind.value}",
                )
            )
        today = datetime.fromtimestamp(self._clock.time(), UTC).date()
        return refused + translate.check(order, self.kind(submission), today=today)

    async def create(self, submission: Submission) -> ProviderOrderRef:
        kind, order = self.kind(submission), submission.order
        skus = await self._logistics_skus(submission, kind)
        s = self.settings
        if kind is Kind.D2C:
            body = translate.to_d2c(
                order,
                reference=submission.reference,
                logistics_skus=skus,
                ship_methods=s.ship_methods,
            )
        else:
            body = translate.to_b2b(
                order,
                reference=submission.reference,
                logistics_skus=skus,
                shipping_partner=s.b2b_shipping_partner,
                shipping_type=s.b2b_shipping_type,
            )
        try:
            # Safe to resend after a timeout or a 5xx: the key makes it one order.
            resp = await self._call(
                _op(kind, "create"),
                json=body,
                headers=translate.idempotent(submission.gateway_id),
                retry_unknown=True,
                lines=[line.first_index for line in translate.merged_lines(order)],
            )
        except Conflict as exc:
            # 409: the external id is taken, or our key is still being processed. Ours → adopt.
            found = await self._find(kind, submission)
            if found is not None:
                log.info("provider.create.adopted", provider=NAME, provider_order_id=found.id)
                return found
            raise still_unseen(NAME, "create", "order", exc) from exc
        order_id = translate.order_id_of(kind, resp.json())
        if order_id is None:
            raise unanswered(
                NAME, resp, "create answered without an order id", outcome_unknown=True
            )
        if resp.headers.get("idempotent-replayed"):
            log.info(
                "provider.create.replayed",
                provider=NAME,
                provider_order_id=order_id,
                correlation_id=resp.correlation_id,
            )
        return _ref(kind, order_id)

    async def find(self, submission: Submission) -> ProviderOrderRef | None:
        return await self._find(self.kind(submission), submission)

    async def _find(self, kind: Kind, submission: Submission) -> ProviderOrderRef | None:
        try:
            resp = await self._call(
                _op(kind, "find"), ident=submission.reference, retry_unknown=True
            )
        except NotFound:
            return None
        found = resp.json()
        order_id = translate.order_id_of(kind, found)
        if order_id is None:
            return None
        if not translate.same_order(kind, submission.order, submission.reference, found):
            raise Conflict(
                NAME,
                f"reference {submission.reference!r} is held by another Flexport order "
                f"({order_id}) with other lines or destination",
                code="external-id-taken",
                correlation_id=resp.correlation_id,
                status=resp.status,
            )
        return _ref(kind, order_id)

    async def get(self, ref: ProviderOrderRef) -> ProviderOrder:
        resp, kind = await self._by_id("get", ref.id, kind=_kind_in(ref))
        return _order(kind, ref.id, resp)

    async def confirm(self, ref: ProviderOrderRef) -> ProviderOrder:
        # Flexport has no confirm step: a created order is already Flexport's.
        return await self.get(ref)

    async def cancel(self, ref: ProviderOrderRef) -> ProviderOrder:
        """D2C: until fulfilment starts; B2B: in PLANNED or BOOKED. `Conflict` after."""
        kind = _kind_in(ref)
        if kind is None and len(self._apis) > 1:
            # Read first to find the API: the cancel's key, answered 404 by the D2C API, would
            # be kept there as used, and refused by the B2B API as another request's.
            _found, kind = await self._by_id("get", ref.id, kind=None)
        resp, kind = await self._by_id(
            "cancel", ref.id, kind=kind, headers=translate.idempotent(ref.id, "cancel")
        )
        if translate.raw_status(kind, resp.json()) is None:
            return await self.get(_ref(kind, ref.id))  # the API that answered holds it
        return _order(kind, ref.id, resp)

    async def _by_id(
        self,
        op: str,
        provider_order_id: str,
        *,
        kind: Kind | None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Response, Kind]:
        """Call `op` on the API of `kind` where it is known, else on whichever API holds the
        order (D2C first); the answer, and the kind of the API that gave it."""
        kinds = [kind] if kind is not None else self._apis
        for i, candidate in enumerate(kinds):
            try:
                resp = await self._call(
                    _op(candidate, op),
                    ident=provider_order_id,
                    headers=headers,
                    retry_unknown=True,
                )
            except (NotFound, Forbidden):
                if i + 1 < len(kinds):
                    continue
                raise
            return resp, candidate
        raise NotFound(NAME, f"no order {provider_order_id}")  # no API configured at all

    # products --------------------------------------------------------------------
    async def _logistics_skus(self, submission: Submission, kind: Kind) -> dict[str, str]:
        lines = submission.order.lines
        if self.settings.product_ids == "sku":
            return {line.sku: line.sku for line in lines}
        found = await self.catalog.resolve(sorted({line.sku for line in lines}))
        missing = [(i, line.sku) for i, line in enumerate(lines) if found.get(line.sku) is None]
        if missing and kind is Kind.D2C:  # B2B sends these as productData instead
            raise problems.unknown_products(missing)
        return {sku: lsku for sku, lsku in found.items() if lsku is not None}

    async def _products_page(self, params: Mapping[str, str]) -> Any:
        return (await self._call("products", params=params, retry_unknown=True)).json()

    # stock -----------------------------------------------------------------------
    async def stock(self, warehouse: str, skus: list[str]) -> StockSnapshot:
        """Units `available` per SKU for `warehouse` (its `stock_warehouses` together, or the
        whole account), from a briefly cached read; a SKU Flexport has no product for has 0."""
        ids = await self._stock_ids(skus)
        codes = self.settings.warehouses[warehouse].stock_warehouses
        known = sorted({lsku for lsku in ids.values() if lsku is not None})
        if codes:
            return held_in(ids, await self.stock_cache.per_warehouse(known), codes)
        return held(ids, await self.stock_cache.account())

    def cached_stock(self, warehouse: str, skus: list[str]) -> StockSnapshot | None:
        """`stock` from what was read, however old, without calling Flexport; None if the
        catalogue or a SKU's units were never read."""
        ids = self._cached_ids(skus)
        if ids is None:
            return None
        codes = self.settings.warehouses[warehouse].stock_warehouses
        known = sorted({lsku for lsku in ids.values() if lsku is not None})
        if codes:
            per = self.stock_cache.cached_per_warehouse(known)
            return None if per is None else held_in(ids, per, codes)
        account = self.stock_cache.cached_account()
        return None if account is None else held(ids, account)

    async def _stock_ids(self, skus: list[str]) -> dict[str, str | None]:
        """merchant SKU → logisticsSku (None: no such product), through the catalogue."""
        if self.settings.product_ids == "sku":
            return {sku: sku for sku in skus}
        return await self.catalog.resolve(sorted(set(skus)))

    def _cached_ids(self, skus: list[str]) -> dict[str, str | None] | None:
        if self.settings.product_ids == "sku":
            return {sku: sku for sku in skus}
        return self.catalog.known(sorted(set(skus)))

    async def _inventory_page(self, params: Mapping[str, str]) -> Any:
        return (await self._call("inventory", params=params, retry_unknown=True)).json()

    async def _inventory_by_warehouse(
        self, logistics_skus: Sequence[str]
    ) -> translate_inventory.PerWarehouse:
        # A read, though a POST: safe to resend.
        resp = await self._call(
            "inventory_by_warehouse",
            params=translate_inventory.warehouse_query(),
            json=translate_inventory.warehouse_body(logistics_skus),
            retry_unknown=True,
        )
        return translate_inventory.per_warehouse_of(resp.json())

    # webhooks --------------------------------------------------------------------
    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        secret = self._reveal(self.settings.webhook_secret_env)
        webhooks.verify(headers, secret, header=self.settings.webhook_token_header)

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        self.webhook_precheck(headers, query)  # the token header is the whole check
        return webhooks.events(body)

    # the boundary ----------------------------------------------------------------
    def _answered(self, op: str) -> None:
        self._config_errors.pop("token", None)
        self._config_errors.pop(problems.family(op), None)

    def _problem(self, op: str, resp: Response, lines: Sequence[int] | None) -> ProviderError:
        error, config_key = problems.to_error(
            op,
            resp.status,
            resp.json(),
            correlation_id=resp.correlation_id,
            retry_after=parse_retry_after(resp.headers.get("Retry-After"), now=self._clock.time()),
            token_env=self.settings.token_env,
            lines=lines,
        )
        if config_key is not None:
            self._config_errors[config_key] = error.message
        return error


def _order(kind: Kind, provider_order_id: str, resp: Response) -> ProviderOrder:
    parsed = translate.order_of(kind, provider_order_id, resp.json())
    return settled(NAME, resp, parsed, "order answered without a status", kind=kind)
