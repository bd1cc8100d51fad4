"""`OrderService`: the use-cases behind `/v1/orders` and `/v1/routing/explain`.

Submit, in the order that makes it safe:
1. the idempotency key is claimed for (client, key) with the body's fingerprint;
2. the natural key (client, external_id) is checked — a second order is never created, but
   a rejected one is superseded by its correction (linked both ways, in the inserting
   transaction, which a racing correction loses with `order-exists`);
3. routing picks provider and warehouse; the provider's own rules are checked, before any call;
4. the order row is written (phase `pending`), linked to the key, in one transaction;
5. the submission runs; the caller waits up to `request_budget_s` for it — `done` when the
   provider took it, `rejected` when the provider refused it, otherwise `queued` and it
   finishes in the background;
6. the answer `api/` renders for that outcome is stored under the key, so a replay answers
   the same status and body.

Refusals are raised as `gateway.errors.refusals` (their answers are `api/`'s to give).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import OrderExists, ProviderError
from gateway.errors.refusals import (
    PinnedRouteUnknown,
    PinNotAllowed,
    ProviderRules,
    Unknown,
    Unroutable,
)
from gateway.model.clients import Client
from gateway.model.ids import new_order_id
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.observability.metrics import Metrics
from gateway.orders.submission import Submitter
from gateway.orders.views import order_view
from gateway.providers.base import Provider, Submission, stock_of
from gateway.routing.evaluate import (
    RoutingResult,
    StockKey,
    StockSnapshot,
    explain_json,
    route,
    stock_needs,
)
from gateway.store import IdempotencyRecords, NewOrder, OrderFilter, OrderIntake, OrderRow
from gateway.submissions.idempotency import (
    IdempotentSubmit,
    Keyed,
    Render,
    SubmitOutcome,
    Submitted,
)
from gateway.submissions.pages import one_page
from gateway.submissions.resources import ORDERS

log = structlog.get_logger(__name__)

STOCK_TIMEOUT_S = 2.0


class ServiceStore(OrderIntake, IdempotencyRecords, Protocol):
    """What accepting and reading orders needs of the store."""


class OrderService:
    def __init__(
        self,
        settings: Settings,
        store: ServiceStore,
        providers: Mapping[str, Provider],
        submitter: Submitter,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or Metrics()
        self._settings = settings
        self._store = store
        self._providers = providers
        self._submitter = submitter
        self._clock = clock
        self._keyed = IdempotentSubmit(settings, store, clock=clock, metrics=self._metrics)

    # submit --------------------------------------------------------------------
    async def submit(
        self, client: Client, key: str, order: CanonicalOrder, render: Render
    ) -> Keyed:
        """`order` submitted exactly once under `key`; `render` gives the answer the key keeps."""
        return await self._keyed.run(
            client,
            key,
            order,
            ORDERS,
            resume=self._resume,
            submit=lambda: self._submit_new(client, key, order),
            render=render,
        )

    async def _resume(self, order_id: str) -> Submitted:
        row = await self._store.get_order(order_id)
        assert row is not None
        return _submitted(row)

    async def _submit_new(self, client: Client, key: str, order: CanonicalOrder) -> Submitted:
        existing = await self._store.find_by_external_id(client.id, order.external_id)
        supersedes, submission = None, 1
        if existing is not None:
            if existing.status is not Status.REJECTED:
                raise OrderExists(existing.id, order.external_id)
            # No provider holds a rejected order (or it refused it): the corrected one takes
            # the external_id over, under a reference of its own.
            supersedes = existing.id
            submission = await self._submissions(client.id, order.external_id) + 1
        self._check_pin(client, order)
        result = await self._route(order)
        decision = result.decision
        if decision is None:
            self._metrics.routed("unroutable", "none", "none")
            raise Unroutable(
                result.reason or "no routing rule matched", trace=explain_json(result)["trace"]
            )
        self._metrics.routed(decision.rule, decision.provider, decision.warehouse)
        provider = self._providers[decision.provider]
        gateway_id = new_order_id(self._clock.time())
        reference = client.reference(order.external_id, submission)
        problems = provider.check(
            Submission(gateway_id, client.id, order, decision.warehouse, reference)
        )
        if problems:
            raise ProviderRules.broken(ORDERS.noun, decision.provider, problems)
        now = self._clock.time()
        lease = None if decision.queued else self._submitter.new_lease()
        try:
            row = await self._store.insert_order(
                NewOrder(
                    id=gateway_id,
                    client_id=client.id,
                    external_id=order.external_id,
                    provider=decision.provider,
                    warehouse=decision.warehouse,
                    route_rule=decision.rule,
                    route_candidate=decision.candidate,
                    body=order.model_dump_json(),
                    # Sent at once by this request: stored `creating`, its first attempt.
                    phase=Phase.PENDING if lease is None else Phase.CREATING,
                    attempts=0 if lease is None else 1,
                    provider_reference=reference,
                    supersedes=supersedes,
                ),
                now=now,
                idempotency=(client.id, key),
                lease_owner=lease,
                lease_until=None if lease is None else self._submitter.lease_until(),
            )
        except OrderExists as exc:
            raise OrderExists(exc.order_id, order.external_id) from None
        log.info(
            "order.accepted",
            order_id=row.id,
            client=client.id,
            external_id=order.external_id,
            supersedes=supersedes,
            provider=row.provider,
            warehouse=row.warehouse,
            rule=row.route_rule,
            queued=decision.queued,
        )
        if lease is not None:
            task = self._submitter.start_unsent(row, lease, order)
            budget = now + self._settings.server.request_budget_s
            row = await self._submitter.within_budget(row, task, budget)
        return _submitted(row)

    async def _submissions(self, client_id: str, external_id: str) -> int:
        """How many orders were submitted under `external_id` (all but one superseded)."""
        count, before = 0, None
        while True:
            page = await self._store.list_orders(
                client_id, OrderFilter(external_id=external_id, before_id=before, limit=200)
            )
            count += len(page)
            if len(page) < 200:
                return count
            before = page[-1].id

    def _check_pin(self, client: Client, order: CanonicalOrder) -> None:
        pin = order.routing
        if pin is None:
            return
        if not client.may("routing:pin"):
            raise PinNotAllowed("the routing field needs the routing:pin scope")
        block = self._settings.providers.get(pin.provider)
        if block is None or pin.warehouse not in block.warehouses:
            raise PinnedRouteUnknown(f"no warehouse {pin.warehouse!r} at provider {pin.provider!r}")

    def _healthy(self, provider: str) -> bool:
        p = self._providers.get(provider)
        return p is not None and p.healthy()

    # read ----------------------------------------------------------------------
    async def get(self, client: Client, order_id: str) -> dict[str, Any]:
        row = await self._store.get_order(order_id, client_id=client.id)
        if row is None:
            raise Unknown.named("order", order_id)
        return order_view(row, await self._store.history(row.id))

    async def list(self, client: Client, flt: OrderFilter) -> tuple[list[OrderRow], bool]:
        """A page of orders newest first, and whether there is another page."""
        return await one_page(lambda page: self._store.list_orders(client.id, page), flt)

    async def explain(self, order: CanonicalOrder) -> dict[str, Any]:
        return explain_json(await self._route(order))

    async def _route(self, order: CanonicalOrder) -> RoutingResult:
        """Routing (pure) over live provider health and the stock it may need to read."""
        stock = await self._stock(order) if order.routing is None else {}
        return route(order, self._settings.routing, healthy=self._healthy, stock=stock)

    async def _stock(self, order: CanonicalOrder) -> dict[StockKey, StockSnapshot]:
        """Snapshots for the candidates of the stock-aware rule this order matches, if any.

        Fetched concurrently, each within `STOCK_TIMEOUT_S`; a provider that cannot answer
        leaves its candidates "stock unknown" rather than failing the order.
        """
        skus = sorted({line.sku for line in order.lines})

        async def one(key: StockKey) -> tuple[StockKey, StockSnapshot] | None:
            provider = self._providers.get(key[0])
            if provider is None or (source := stock_of(provider)) is None or not provider.healthy():
                return None
            try:
                snapshot = await asyncio.wait_for(source.stock(key[1], skus), STOCK_TIMEOUT_S)
            except (ProviderError, TimeoutError) as exc:
                log.warning(
                    "routing.stock_unavailable",
                    provider=key[0],
                    warehouse=key[1],
                    error=type(exc).__name__,
                )
                return None
            return key, snapshot

        found = await asyncio.gather(*(one(k) for k in stock_needs(self._settings.routing, order)))
        return dict(item for item in found if item is not None)


def _submitted(row: OrderRow) -> Submitted:
    if row.status is Status.REJECTED:
        outcome = SubmitOutcome.REJECTED
    else:
        outcome = SubmitOutcome.DONE if row.phase is Phase.DONE else SubmitOutcome.QUEUED
    return Submitted(outcome, order_view(row))
