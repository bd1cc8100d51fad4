"""`Submitter`: drives one order through its submission phases, exactly once at the provider.

    pending ─▶ creating ─▶ created(provider_id) ─▶ confirming ─▶ done      (or ─▶ failed)

`creating` is committed *before* the create is sent (a new order is stored `creating` at
once), so after a crash at any point the next owner knows what may have happened:

- `creating`: a create (and a confirm) may have reached the provider → `find` (reconcile)
  first, and create only if the provider holds nothing;
- `confirming`: a confirm may have happened → confirming again is safe (the adapter settles an
  "already confirmed" answer by reading the order).

On the happy path the provider's id is not committed on its own: create, confirm and `done`
(with the id) take two commits in all — before and after. The id and `confirming` are stored
early only when a confirm fails, so its retry needs no lookup.

This is the orders' part of `SubmissionDriver` (leases, retries, refusals, the request's
budget and the background loop are all its): the calls an order's phases make.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog

from gateway.errors import CircuitOpen, ProviderError, ProviderOrderTaken
from gateway.model.orders import OPEN_PHASES, CanonicalOrder, Phase, Status
from gateway.model.text import STORED
from gateway.observability.metrics import Metrics
from gateway.orders.refs import provider_ref
from gateway.providers.base import Provider, Submission
from gateway.store import OrderReads, OrderRow, ProviderFacts, Submissions, Transition
from gateway.submissions.driver import SubmissionDriver

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Attempt:
    provider: Provider
    submission: Submission
    unsent: bool
    """Stored `creating` by the request now sending it: nothing can be at the provider yet."""


class SubmitterStore(Submissions, OrderReads, Protocol):
    """What submitting orders needs of the store."""


class Submitter(SubmissionDriver[OrderRow, _Attempt, SubmitterStore]):
    """Runs order submissions (one task per order, each under its own lease)."""

    task_prefix = "submit"
    log_prefix = ""
    id_field = "order_id"
    open_phases = OPEN_PHASES
    missing_error = "provider-not-configured"

    def __init__(self, *args: Any, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics or Metrics()
        self._unsent: dict[str, CanonicalOrder] = {}
        """Orders stored `creating` whose create was not sent yet, with their parsed body."""

    def start_unsent(
        self, row: OrderRow, lease: str, order: CanonicalOrder
    ) -> asyncio.Task[OrderRow]:
        """Drive an order its caller just stored `creating` with nothing sent yet.

        Its first create goes out at once, without the reconciling lookup that a `creating`
        order found after a crash needs — and that is known only in this process's memory, so
        after a crash the lookup happens, as it must. (Stored `creating` rather than `pending`:
        one commit less before the provider sees the order.)
        """
        self._unsent[row.id] = order  # also spares parsing the stored body again
        return self.spawn(row, lease)

    # the store's calls for orders ------------------------------------------------
    async def _get(self, row_id: str) -> OrderRow | None:
        return await self._store.get_order(row_id)

    async def _claim(self, row_id: str, lease: str) -> OrderRow | None:
        return await self._store.claim(
            row_id, owner=lease, now=self._clock.time(), lease_until=self.lease_until()
        )

    async def _claim_due(self, lease: str, limit: int) -> Sequence[OrderRow]:
        return await self._store.claim_due(
            owner=lease, now=self._clock.time(), lease_until=self.lease_until(), limit=limit
        )

    async def _renew(self, row_id: str, lease: str, until: float) -> bool:
        return await self._store.renew(row_id, owner=lease, lease_until=until)

    async def _release(self, row_id: str, lease: str) -> None:
        await self._store.release(row_id, owner=lease)

    async def _step(self, row: OrderRow, lease: str, step: Transition) -> OrderRow:
        return await self._store.advance(row.id, owner=lease, step=step)

    async def _later(
        self, row: OrderRow, lease: str, error: dict[str, object], next_attempt_at: float
    ) -> OrderRow:
        return await self._step(
            row,
            lease,
            Transition(
                phase=row.phase, last_error=error, next_attempt_at=next_attempt_at, release=True
            ),
        )

    async def _rejected(
        self, row: OrderRow, lease: str, error: dict[str, object], detail: str
    ) -> OrderRow:
        return await self._step(
            row,
            lease,
            Transition(
                phase=Phase.FAILED,
                status=Status.REJECTED,
                last_error=error,
                release=True,
                count_attempt=True,
                detail=detail,
            ),
        )

    # an order's phases -----------------------------------------------------------
    async def _prepare(self, row: OrderRow) -> _Attempt | None:
        known = self._unsent.pop(row.id, None)
        provider = self._providers.get(row.provider)
        if provider is None:
            return None
        order = known or CanonicalOrder.model_validate_json(row.body, context=STORED)
        submission = Submission(row.id, row.client_id, order, row.warehouse, row.reference)
        return _Attempt(provider, submission, known is not None and row.phase is Phase.CREATING)

    async def _drive(self, row: OrderRow, lease: str, work: _Attempt) -> OrderRow:
        try:
            return await self._phases(row, lease, work.provider, work.submission, work.unsent)
        except ProviderOrderTaken as exc:
            return await self._refuse_adoption(row, lease, exc)

    async def _phases(
        self, row: OrderRow, lease: str, provider: Provider, sub: Submission, unsent: bool
    ) -> OrderRow:
        bound = log.bind(order_id=row.id, provider=row.provider)
        # A provider that confirms goes straight from creating to confirming (recovery is the
        # same: confirm is idempotent once confirmed).
        created = Phase.CONFIRMING if provider.capabilities.confirm else Phase.CREATED
        if row.phase is Phase.PENDING or unsent:
            if not provider.healthy():
                # Nothing was sent: the order stays `pending` (so still cancellable and
                # changeable in the gateway alone) instead of entering `creating` for a call
                # the circuit would refuse anyway.
                if unsent:
                    row = await self._step(row, lease, Transition(phase=Phase.PENDING))
                raise CircuitOpen(row.provider, "circuit open: not sending yet")
            if row.phase is Phase.PENDING:
                row = await self._step(
                    row, lease, Transition(phase=Phase.CREATING, count_attempt=True)
                )
            ref = await provider.create(sub)
            bound.info("submission.created", provider_order_id=ref.id)
            # The provider's id is kept in memory, not committed alone: `done` stores it, and
            # until then the order is `creating` in the store, which a crash recovers by lookup.
            row = replace(row, phase=created, provider_order_id=ref.id, provider_data=ref.data)
        elif row.phase is Phase.CREATING:
            # A create may have reached the provider before we lost track: look first.
            found = await provider.find(sub)
            pid = None if found is None else found.id
            bound.info("submission.reconciled", found=found is not None, provider_order_id=pid)
            if found is not None:
                await self._check_unheld(row, found.id)
            if found is None:
                await self._step(row, lease, Transition(phase=Phase.CREATING, count_attempt=True))
                found = await provider.create(sub)
                bound.info("submission.created", provider_order_id=found.id)
            row = replace(row, phase=created, provider_order_id=found.id, provider_data=found.data)
        if row.phase is Phase.CREATED and provider.capabilities.confirm:
            row = await self._step(row, lease, Transition(phase=Phase.CONFIRMING))
        confirmed = None
        if row.phase is Phase.CONFIRMING:
            assert row.provider_order_id is not None
            try:
                confirmed = await provider.confirm(provider_ref(row))
            except ProviderError:
                # Store the id now, so the retry confirms without looking the order up first.
                await self._step(
                    row,
                    lease,
                    Transition(
                        phase=Phase.CONFIRMING,
                        provider_order_id=row.provider_order_id,
                        provider_data=row.provider_data,
                    ),
                )
                raise
        if row.phase in (Phase.CREATED, Phase.CONFIRMING):
            # The confirm's answer may carry tracking already: kept in the same commit.
            facts = None
            if confirmed is not None:
                facts = ProviderFacts(
                    confirmed.raw_status, confirmed.tracking_code, confirmed.tracking_url
                )
            row = await self._step(
                row,
                lease,
                Transition(
                    phase=Phase.DONE,
                    status=Status.SUBMITTED,
                    provider_order_id=row.provider_order_id,
                    provider_data=row.provider_data,
                    release=True,
                    facts=facts,
                ),
            )
            bound.info("submission.done", provider_order_id=row.provider_order_id)
        return row

    async def _check_unheld(self, row: OrderRow, provider_order_id: str) -> None:
        """Refuse, before any call acts on it (a confirm), a provider order another gateway
        order holds: adopting it would let this tenant change or cancel someone else's order.
        (The store's unique index refuses it too, should two adoptions race.)"""
        holder = await self._store.find_by_provider_id(row.provider, provider_order_id)
        if holder is not None and holder.id != row.id:
            raise ProviderOrderTaken(row.provider, provider_order_id, holder.id)

    async def _refuse_adoption(
        self, row: OrderRow, lease: str, exc: ProviderOrderTaken
    ) -> OrderRow:
        """End the order in `exception` for an operator: neither adopt the other order nor
        create a second one under the same reference."""
        log.error(
            "submission.adoption_refused",
            order_id=row.id,
            provider=row.provider,
            provider_order_id=exc.provider_order_id,
            held_by=exc.holder,
            reference=row.reference,
        )
        self._metrics.adoption_refused(row.provider)
        current = await self._store.get_order(row.id) or row
        return await self._step(
            current,
            lease,
            Transition(
                phase=Phase.FAILED,
                status=Status.EXCEPTION,
                # Shown to the tenant: the other order is named in the log only.
                last_error={
                    "error": "provider-order-taken",
                    "detail": "the provider order found under this order's reference belongs"
                    " to another order; an operator must look",
                },
                release=True,
                detail="provider order found under this reference belongs to another order",
            ),
        )
