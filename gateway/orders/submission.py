"""`Submitter`: drives one order through its submission phases, exactly once at the provider
(`gateway.submissions.provider_order` has the phases and how a crash at each is recovered).

A new order is stored `creating` at once by the request that sends it (`start_unsent`): one
commit less before the provider sees the order.

This is the orders' part of `ProviderOrderDriver` (leases, retries, refusals, the request's
budget and the background loop are `SubmissionDriver`'s): how an order's steps are stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.text import STORED
from gateway.observability.metrics import Metrics
from gateway.providers.base import Provider, ProviderOrder, Submission
from gateway.store import OrderReads, OrderRow, ProviderFacts, Submissions, Transition
from gateway.submissions.provider_order import ProviderOrderDriver
from gateway.submissions.stored import StoredRows

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Attempt:
    provider: Provider
    submission: Submission
    unsent: bool
    """Stored `creating` by the request now sending it: nothing can be at the provider yet."""


class SubmitterStore(Submissions, OrderReads, Protocol):
    """What submitting orders needs of the store."""


class Submitter(ProviderOrderDriver[OrderRow, _Attempt, SubmitterStore, Transition]):
    """Runs order submissions (one task per order, each under its own lease)."""

    task_prefix = "submit"
    log_prefix = ""
    id_field = "order_id"

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

    def _stored(self) -> StoredRows[OrderRow, Transition]:
        st = self._store
        return StoredRows(st.get_order, st.claim, st.claim_due, st.renew, st.release, st.advance)

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
        return await self._phases(row, lease, work.provider, work.submission, unsent=work.unsent)

    def _transition(self, phase: Phase, **fields: Any) -> Transition:
        return Transition(phase=phase, **fields)

    def _done(self, row: OrderRow, confirmed: ProviderOrder | None) -> Transition:
        # The confirm's answer may carry tracking already: kept in the same commit.
        facts = None
        if confirmed is not None:
            facts = ProviderFacts(
                confirmed.raw_status, confirmed.tracking_code, confirmed.tracking_url
            )
        # Not waited for: it rides the next group commit. A crash that loses it leaves the
        # row `creating` (or `confirming`), which recovery settles by looking the order up at
        # the provider — never a second create. Readers see it once it is committed, which
        # they wait for (one durable commit per order before the provider call, none after).
        return Transition(
            phase=Phase.DONE,
            status=Status.SUBMITTED,
            provider_order_id=row.provider_order_id,
            provider_data=row.provider_data,
            release=True,
            facts=facts,
            durable=False,
        )

    async def _holder(self, row: OrderRow, provider_order_id: str) -> str | None:
        """Refuse, before any call acts on it (a confirm), a provider order another gateway
        order holds: adopting it would let this tenant change or cancel someone else's order.
        (The store's unique index refuses it too, should two adoptions race.)"""
        holder = await self._store.find_by_provider_id(row.provider, provider_order_id)
        return holder.id if holder is not None and holder.id != row.id else None

    def _adoption_refused(self, row: OrderRow) -> None:
        self._metrics.adoption_refused(row.provider)
