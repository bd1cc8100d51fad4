"""`ReturnSubmitter`: drives one return to its provider, exactly once.

    pending ─▶ creating ─▶ done(provider_return_id)      (or ─▶ failed)

`creating` is committed *before* the create call, so after a crash (or a create whose answer
was lost) the next attempt asks the provider for the return first (`find_return`) and creates
only if it holds nothing.

This is the returns' part of `SubmissionDriver`, which owns the rest as for orders: the lease
(a dead process's returns resume within `submission.lease_s`), retries on per-return backoff
(inside the request's budget, then by the background loop), a provider's final refusal
ending the return `rejected`, a bug keeping it queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from gateway.model.orders import CanonicalOrder, Phase
from gateway.model.part_orders import part_order
from gateway.model.returns import (
    OPEN_RETURN_PHASES,
    CanonicalReturn,
    ReturnPhase,
    ReturnStatus,
)
from gateway.model.text import STORED
from gateway.providers.base import ReturnsProvider, ReturnSubmission, returns_of
from gateway.returns.news import provider_said
from gateway.store import OrderReads, PartStore, ReturnRow, ReturnStep, ReturnStore
from gateway.submissions.driver import SubmissionDriver

log = structlog.get_logger(__name__)


class ReturnSubmitterStore(ReturnStore, OrderReads, PartStore, Protocol):
    """What submitting returns needs of the store."""


class ReturnSubmitter(
    SubmissionDriver[ReturnRow, tuple[ReturnsProvider, ReturnSubmission], ReturnSubmitterStore]
):
    """Runs return submissions (one task per return, each under its own lease)."""

    task_prefix = "return"
    log_prefix = "return."
    id_field = "return_id"
    subject_kind = "return"
    open_phases = OPEN_RETURN_PHASES
    missing_error = "returns-unsupported"

    # the store's calls for returns -----------------------------------------------
    async def _get(self, row_id: str) -> ReturnRow | None:
        return await self._store.get_return(row_id)

    async def _claim(self, row_id: str, lease: str) -> ReturnRow | None:
        # The store leases returns by due round only: run one now, which takes this return
        # along with the others due (as the background loop would within its interval).
        await self.submit_due()
        return None

    async def _claim_due(self, lease: str, limit: int) -> Sequence[ReturnRow]:
        return await self._store.claim_due_returns(
            owner=lease, now=self._clock.time(), lease_until=self.lease_until(), limit=limit
        )

    async def _renew(self, row_id: str, lease: str, until: float) -> bool:
        return await self._store.renew_return(row_id, owner=lease, lease_until=until)

    async def _release(self, row_id: str, lease: str) -> None:
        await self._store.release_return(row_id, owner=lease)

    async def _step(self, row: ReturnRow, lease: str, step: ReturnStep) -> ReturnRow:
        return await self._store.advance_return(row.id, owner=lease, step=step)

    async def _later(
        self, row: ReturnRow, lease: str, error: dict[str, object], next_attempt_at: float
    ) -> ReturnRow:
        step = ReturnStep(
            last_error=error, next_attempt_at=next_attempt_at, count_attempt=True, release=True
        )
        return await self._step(row, lease, step)

    async def _rejected(
        self, row: ReturnRow, lease: str, error: dict[str, object], detail: str
    ) -> ReturnRow:
        return await self._step(
            row,
            lease,
            ReturnStep(
                phase=ReturnPhase.FAILED,
                status=ReturnStatus.REJECTED,
                last_error=error,
                count_attempt=True,
                release=True,
                detail=detail,
            ),
        )

    # a return's phases -------------------------------------------------------------
    async def _prepare(self, row: ReturnRow) -> tuple[ReturnsProvider, ReturnSubmission] | None:
        provider = self._providers.get(row.provider)
        returns = returns_of(provider) if provider is not None else None
        order = await self._store.get_order(row.order_id)
        if returns is None or order is None:  # the provider left the config, or lost returns
            return None
        canonical = CanonicalOrder.model_validate_json(order.body, context=STORED)
        if order.phase is Phase.PARTS:
            # A split order's return goes to the part that shipped its lines: the provider
            # order it names is that part's, with the part's lines.
            part = await self._store.find_part_by_provider_id(row.provider, row.provider_order_id)
            if part is None or part.order_id != order.id:
                return None
            canonical = part_order(canonical, part.lines)
        return returns, ReturnSubmission(
            gateway_id=row.id,
            client_id=row.client_id,
            ret=CanonicalReturn.model_validate_json(row.body, context=STORED),
            order=canonical,
            provider_order_id=row.provider_order_id,
            reference=row.reference,
        )

    async def _drive(
        self, row: ReturnRow, lease: str, work: tuple[ReturnsProvider, ReturnSubmission]
    ) -> ReturnRow:
        returns, submission = work
        bound = log.bind(return_id=row.id, provider=row.provider)
        found = None
        if row.phase is ReturnPhase.CREATING:
            found = await returns.find_return(submission)
            if found is not None:
                bound.info("return.submission.reconciled", id=found.provider_return_id)
        if found is None:
            row = await self._step(row, lease, ReturnStep(phase=ReturnPhase.CREATING))
            found = await returns.create_return(submission)
        bound.info(
            "return.submitted", provider_return_id=found.provider_return_id, raw=found.raw_status
        )
        done = provider_said(
            row,
            found,
            phase=ReturnPhase.DONE,
            provider_return_id=found.provider_return_id,
            count_attempt=True,
            release=True,
        )
        return await self._step(row, lease, done)
