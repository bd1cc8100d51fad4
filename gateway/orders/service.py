"""`OrderService`: the use-cases behind `/v1/orders` and `/v1/routing/explain`.

Submit, in the order that makes it safe:
1. the idempotency key is looked up for (client, key) with the body's fingerprint (a new
   key is claimed with the order, in step 4);
2. the natural key (client, external_id) is checked — a second order is never created, but
   a rejected one is superseded by its correction (linked both ways, in the inserting
   transaction, which a racing correction loses with `order-exists`);
3. routing picks provider and warehouse; the provider's own rules are checked, before any call;
4. the order row is written (phase `pending`) with the key's claim, in one transaction;
5. the submission runs; the caller waits up to `request_budget_s` for it — `done` when the
   provider took it, `rejected` when the provider refused it, otherwise `queued` and it
   finishes in the background;
6. the answer `api/` renders for that outcome is stored under the key, so a replay answers
   the same status and body.

Refusals are raised as `gateway.errors.refusals` (their answers are `api/`'s to give).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
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
from gateway.model.clients import Client, part_reference
from gateway.model.ids import new_order_id
from gateway.model.orders import OPEN_PHASES, CanonicalOrder, Phase, Status
from gateway.model.view import instant
from gateway.observability.metrics import Metrics
from gateway.orders.parts import PartSubmitter, part_submission
from gateway.orders.submission import Submitter
from gateway.orders.views import order_view
from gateway.providers.base import Provider, Submission, stock_of
from gateway.routing.evaluate import (
    Decision,
    RoutingResult,
    StockKey,
    StockSnapshot,
    explain_json,
    route,
    stock_needs,
)
from gateway.routing.holds import held, hold_json
from gateway.store import (
    IdempotencyRecords,
    KeyClaim,
    NewOrder,
    NewPart,
    OrderFilter,
    OrderIntake,
    OrderRow,
    PartRow,
    PartStore,
)
from gateway.store.holds import Route
from gateway.store.records import UNROUTED
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


class ServiceStore(OrderIntake, IdempotencyRecords, PartStore, Protocol):
    """What accepting and reading orders needs of the store."""


class OrderService:
    def __init__(
        self,
        settings: Settings,
        store: ServiceStore,
        providers: Mapping[str, Provider],
        submitter: Submitter,
        parts: PartSubmitter,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or Metrics()
        self._settings = settings
        self._store = store
        self._providers = providers
        self._submitter = submitter
        self._parts = parts
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
            submit=lambda claim: self._submit_new(client, key, order, claim),
            render=render,
            defer=True,
        )

    async def _resume(self, order_id: str) -> Submitted:
        row = await self._store.get_order(order_id)
        assert row is not None
        return submitted_of(row, await self._store.parts_of(row.id))

    async def _submit_new(
        self, client: Client, key: str, order: CanonicalOrder, claim: KeyClaim | None
    ) -> Submitted:
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
        gateway_id = new_order_id(self._clock.time())
        reference = client.reference(order.external_id, submission)
        now = self._clock.time()
        hold = held(order, self._settings.holds, instant(now)).hold
        lease, queued = None, True
        parts: tuple[NewPart, ...] = ()
        if hold is None:
            decision = await self.decide(order, gateway_id, client.id, reference)
            where = Route(decision.provider, decision.warehouse, decision.rule, decision.candidate)
            queued = decision.queued
            parts = self.split_parts(client.id, order, gateway_id, decision, reference)
            if parts:
                lease = self._parts.new_lease()
            else:
                lease = None if queued else self._submitter.new_lease()
        else:
            where = Route(UNROUTED, UNROUTED, UNROUTED, 0)
        try:
            row = await self._store.insert_order(
                NewOrder(
                    id=gateway_id,
                    client_id=client.id,
                    external_id=order.external_id,
                    provider=where.provider,
                    warehouse=where.warehouse,
                    route_rule=where.rule,
                    route_candidate=where.candidate,
                    body=order.model_dump_json(),
                    status=Status.ACCEPTED if hold is None else Status.ON_HOLD,
                    # Sent at once by this request: stored `creating`, its first attempt.
                    phase=_first_phase(hold is not None, bool(parts), lease is not None),
                    attempts=0 if lease is None or parts else 1,
                    provider_reference=reference,
                    supersedes=supersedes,
                    hold_reason=None if hold is None else hold.reason,
                    hold_since=None if hold is None else now,
                    hold_until=None
                    if hold is None or hold.until is None
                    else hold.until.timestamp(),
                    ship_by=None if order.ship_by is None else order.ship_by.timestamp(),
                ),
                now=now,
                idempotency=(client.id, key) if claim is None else claim,
                lease_owner=lease,
                lease_until=None if lease is None else self._submitter.lease_until(),
                parts=parts,
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
            queued=queued,
            held=row.hold_reason,
            parts=len(parts) or None,
        )
        if parts:
            assert lease is not None
            return await self.send_parts(row, lease, now)
        if lease is not None:
            row = await self.send(row, lease, order, now)
        return submitted_of(row)

    def split_parts(
        self, client_id: str, order: CanonicalOrder, gateway_id: str, decision: Decision, ref: str
    ) -> tuple[NewPart, ...]:
        """A split decision's parts as stored (each under `part_reference` of the order's
        `ref`), each checked against its provider's rules with the lines it ships
        (`ProviderRules`); none for an order that is not split."""
        if len(decision.parts) < 2 or part_reference(ref, 2) is None:
            return ()
        parts = []
        for planned in decision.parts:
            lines = tuple((pl.line, pl.sku, pl.quantity) for pl in planned.lines)
            reference = part_reference(ref, planned.part)
            assert reference is not None
            part = NewPart(
                planned.part,
                planned.provider,
                planned.warehouse,
                planned.candidate,
                lines,
                reference,
            )
            sub = part_submission(gateway_id, client_id, order, part)
            if problems := self._providers[planned.provider].check(sub):
                raise ProviderRules.broken(ORDERS.noun, planned.provider, problems)
            parts.append(part)
        return tuple(parts)

    async def send_parts(self, row: OrderRow, lease: str, now: float) -> Submitted:
        """Drive every part of a split order just stored (leased to this request, nothing
        sent yet), all at once, for up to the request's budget; the order as it stands then."""
        parts = await self._store.parts_of(row.id, latest=True)
        budget = now + self._settings.server.request_budget_s
        tasks = [self._parts.spawn(part, lease) for part in parts]
        await asyncio.gather(
            *(self._parts.within_budget(p, t, budget) for p, t in zip(parts, tasks, strict=True))
        )
        row = await self._store.get_order(row.id) or row
        return submitted_of(row, await self._store.parts_of(row.id))

    async def decide(
        self, order: CanonicalOrder, gateway_id: str, client_id: str, reference: str
    ) -> Decision:
        """Where the order goes now (routing over live health and stock), its provider's
        rules checked before any call: `Unroutable`, `ProviderRules` otherwise."""
        result = await self._route(order)
        decision = result.decision
        if decision is None:
            self._metrics.routed("unroutable", "none", "none")
            raise Unroutable(
                result.reason or "no routing rule matched", trace=explain_json(result)["trace"]
            )
        self._metrics.routed(decision.rule, decision.provider, decision.warehouse)
        provider = self._providers[decision.provider]
        problems = provider.check(
            Submission(gateway_id, client_id, order, decision.warehouse, reference)
        )
        if problems:
            raise ProviderRules.broken(ORDERS.noun, decision.provider, problems)
        return decision

    async def send(self, row: OrderRow, lease: str, order: CanonicalOrder, now: float) -> OrderRow:
        """Drive a stored order, leased to this request and sent nothing yet, for up to the
        request's budget; the row as it stands then."""
        task = self._submitter.start_unsent(row, lease, order)
        budget = now + self._settings.server.request_budget_s
        return await self._submitter.within_budget(row, task, budget)

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
        return order_view(row, await self._store.history(row.id), await self.parts_of(row))

    async def parts_of(self, row: OrderRow) -> Sequence[PartRow]:
        """A split order's stored parts; none for any other (no read for those)."""
        return await self._store.parts_of(row.id) if row.phase is Phase.PARTS else ()

    async def list(
        self, client: Client, flt: OrderFilter
    ) -> tuple[list[OrderRow], bool, dict[str, Sequence[PartRow]]]:
        """A page of orders newest first, whether there is another page, and the parts of
        the split orders among them."""
        rows, more = await one_page(lambda page: self._store.list_orders(client.id, page), flt)
        parts = {row.id: await self.parts_of(row) for row in rows if row.phase is Phase.PARTS}
        return rows, more, parts

    async def explain(self, order: CanonicalOrder) -> dict[str, Any]:
        holds = held(order, self._settings.holds, instant(self._clock.time()))
        return explain_json(await self._route(order)) | hold_json(holds)

    async def _route(self, order: CanonicalOrder) -> RoutingResult:
        """Routing (pure) over live provider health and the stock it may need to read."""
        stock = await self._stock(order) if order.routing is None else {}
        now = instant(self._clock.time())
        return route(order, self._settings.routing, healthy=self._healthy, stock=stock, now=now)

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

        needs = stock_needs(self._settings.routing, order, instant(self._clock.time()))
        found = await asyncio.gather(*(one(k) for k in needs))
        return dict(item for item in found if item is not None)


def submitted_of(row: OrderRow, parts: Sequence[PartRow] = ()) -> Submitted:
    """The outcome of a submit: of a split order, `done` once no part is under way."""
    if row.status is Status.REJECTED:
        outcome = SubmitOutcome.REJECTED
    elif parts:
        settled = not any(p.phase in OPEN_PHASES for p in parts)
        outcome = SubmitOutcome.DONE if settled else SubmitOutcome.QUEUED
    else:
        outcome = SubmitOutcome.DONE if row.phase is Phase.DONE else SubmitOutcome.QUEUED
    return Submitted(outcome, order_view(row, parts=parts))


def _first_phase(held: bool, split: bool, sending: bool) -> Phase:
    """Held before routing; split (its parts are the submissions); sent at once by the
    request (`creating`); or queued."""
    if held:
        return Phase.HELD
    if split:
        return Phase.PARTS
    return Phase.CREATING if sending else Phase.PENDING
