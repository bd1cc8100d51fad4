"""`OrderHolds`: holding an order before it reaches a provider, and releasing it — by a
caller (`POST /v1/orders/{id}/hold`, `/release`) or by itself when its hold runs out
(`release_due`, the background worker's round).

A release routes the order with the rules, provider health and stock of that moment and
checks its provider's rules, then claims the order in one statement (`Holds.release_hold`):
of every replica seeing the same hold run out, one releases it; the others find it released.
A caller's release is sent at once, within the request's budget (201, 202, or 422 when the
provider refuses it); a release by time is queued for the background submitter. An order that
cannot be routed when its hold runs out stays held, without an end, its reason saying why
(an `order.held` event tells the client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog

from gateway.clock import Clock
from gateway.errors.refusals import NotHeld, NotHoldable, ProviderRules, Unknown, Unroutable
from gateway.model.clients import Client
from gateway.model.history import SUBMITTER_ACTOR, Source
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.text import STORED
from gateway.orders.service import OrderService, submitted_of
from gateway.orders.submission import Submitter
from gateway.store import OrderReads, OrderRow
from gateway.store.holds import Holds, Route
from gateway.submissions.idempotency import Submitted

log = structlog.get_logger(__name__)

RELEASE_BATCH = 50
"""Holds released per round at most."""


class HoldStore(OrderReads, Holds, Protocol):
    """What holding and releasing need of the store."""


class OrderHolds:
    def __init__(
        self, store: HoldStore, service: OrderService, submitter: Submitter, *, clock: Clock
    ) -> None:
        self._store = store
        self._service = service
        self._submitter = submitter
        self._clock = clock

    async def hold(
        self, client: Client, order_id: str, reason: str, until: datetime | None
    ) -> OrderRow:
        row = await self._own(client, order_id)
        now = self._clock.time()
        done = await self._store.hold_order(
            row.id,
            reason=reason,
            until=None if until is None else until.timestamp(),
            source=Source.API,
            actor=client.id,
            now=now,
        )
        if done is None:
            current = await self._store.get_order(row.id) or row
            raise NotHoldable(
                _where(current),
                order_id=row.id,
                order_status=current.status.value,
                provider=current.provider,
            )
        log.info("order.held", order_id=row.id, reason=reason, by=client.id)
        return done

    async def release(
        self, client: Client, order_id: str, *, cause: tuple[str, str] | None = None
    ) -> Submitted:
        """Route and send a held order now: how far it got within the request's budget.
        `cause`: (source, actor) when not the client's own call (an operator's console)."""
        row = await self._own(client, order_id)
        lease = self._submitter.new_lease()
        source, actor = cause or (Source.API, client.id)
        released = await self._release(row, lease, source, actor, "released by the client")
        if released.phase is Phase.PARTS:  # split: its parts are sent, each on its own
            return await self._service.send_parts(released, lease, self._clock.time())
        if released.phase is not Phase.CREATING:
            return submitted_of(released)  # queued: its provider is not healthy
        order = CanonicalOrder.model_validate_json(released.body, context=STORED)
        sent = await self._service.send(released, lease, order, self._clock.time())
        return submitted_of(sent)

    async def release_due(self) -> int:
        """Release the holds that have run out (a worker's round); how many."""
        count = 0
        for row in await self._store.due_holds(now=self._clock.time(), limit=RELEASE_BATCH):
            try:
                await self._release(row, None, Source.RELEASE, SUBMITTER_ACTOR, "hold ran out")
            except NotHeld:
                continue  # another replica released it first
            except (Unroutable, ProviderRules) as exc:
                log.warning("order.release_failed", order_id=row.id, reason=exc.detail)
                await self._store.hold_order(
                    row.id,
                    reason=f"release failed: {exc.detail}"[:500],
                    until=None,
                    source=Source.RELEASE,
                    actor=SUBMITTER_ACTOR,
                    now=self._clock.time(),
                )
                continue
            count += 1
        return count

    async def _release(
        self, row: OrderRow, lease: str | None, source: str, actor: str, detail: str
    ) -> OrderRow:
        if row.phase is not Phase.HELD:
            raise _not_held(row, f"the order is {row.status}, not held before routing")
        order = CanonicalOrder.model_validate_json(row.body, context=STORED)
        reference = row.provider_reference or row.external_id
        decision = await self._service.decide(order, row.id, row.client_id, reference)
        parts = self._service.split_parts(row.client_id, order, row.id, decision, reference)
        where = f"{decision.provider}/{decision.warehouse}"
        if parts:
            where = " + ".join(f"{p.provider}/{p.warehouse}" for p in parts)
        released = await self._store.release_hold(
            row.id,
            Route(decision.provider, decision.warehouse, decision.rule, decision.candidate),
            lease_owner=None if decision.queued else lease,
            lease_until=None if decision.queued or lease is None else self._submitter.lease_until(),
            source=source,
            actor=actor,
            detail=f"{detail}: to {where} by {decision.rule}",
            now=self._clock.time(),
            parts=parts,
        )
        if released is None:
            raise _not_held(row, "the order was released already")
        log.info(
            "order.released",
            order_id=row.id,
            provider=decision.provider,
            rule=decision.rule,
            source=source,
        )
        return released

    async def _own(self, client: Client, order_id: str) -> OrderRow:
        row = await self._store.get_order(order_id, client_id=client.id)
        if row is None:
            raise Unknown.named("order", order_id)
        return row


def _not_held(row: OrderRow, why: str) -> NotHeld:
    return NotHeld(why, order_id=row.id, order_status=row.status.value, provider=row.provider)


def _where(row: OrderRow) -> str:
    """Why an order cannot be held: where it is."""
    if row.status in (Status.CANCELLED, Status.REJECTED, Status.DELIVERED):
        return f"the order is {row.status}"
    if row.provider_order_id is not None or row.phase is Phase.DONE:
        return f"the order is at {row.provider} already ({row.status})"
    return f"the order is being sent to {row.provider} (phase {row.phase}); retry or cancel"
