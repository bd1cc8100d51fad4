"""`ReturnSubmitter`: drives one return to its provider, exactly once.

The phases are `ReturnDriver`'s (`gateway.returns.sending`), on the return's own row. A
return spanning parts of a split order (phase `parts`) is sent part by part instead: each
part is its own provider return, driven by `ReturnPartSubmitter` (`self.parts`) in this
submitter's rounds.

This is the returns' part of `SubmissionDriver`, which owns the rest as for orders: the lease
(a dead process's returns resume within `submission.lease_s`), retries on per-return backoff
(inside the request's budget, then by the background loop), a provider's final refusal
ending the return `rejected`, a bug keeping it queued.
"""

from __future__ import annotations

from functools import cached_property

import structlog

from gateway.model.orders import CanonicalOrder, Phase
from gateway.model.part_orders import part_order
from gateway.model.returns import CanonicalReturn
from gateway.model.text import STORED
from gateway.providers.base import ReturnSubmission
from gateway.returns.part_submission import ReturnPartSubmitter, ReturnSubmitterStore
from gateway.returns.sending import ReturnDriver, Work
from gateway.store import ReturnRow, ReturnStep
from gateway.submissions.stored import StoredRows

log = structlog.get_logger(__name__)


class ReturnSubmitter(ReturnDriver[ReturnRow, ReturnSubmitterStore]):
    """Runs return submissions (one task per return, each under its own lease)."""

    task_prefix = "return"
    log_prefix = "return."
    id_field = "return_id"

    @cached_property
    def parts(self) -> ReturnPartSubmitter:
        """The submitter of the parts of returns spanning parts, run in this one's rounds."""
        return ReturnPartSubmitter(
            self._store,
            self._providers,
            self._settings,
            owner=self.owner,
            clock=self._clock,
            rng=self._rng,
        )

    async def submit_due(self) -> None:
        """One round: the returns due, then the parts of returns due."""
        await super().submit_due()
        await self.parts.submit_due()

    async def drain(self, grace_s: float) -> int:
        return await super().drain(grace_s) + await self.parts.drain(grace_s)

    def _stored(self) -> StoredRows[ReturnRow, ReturnStep]:
        st = self._store
        return StoredRows(
            st.get_return,
            st.claim_return,
            st.claim_due_returns,
            st.renew_return,
            st.release_return,
            st.advance_return,
        )

    # a return's phases -------------------------------------------------------------
    async def _prepare(self, row: ReturnRow) -> Work | None:
        returns = self._returns_at(row.provider)
        order = await self._store.get_order(row.order_id)
        if returns is None or order is None:  # the provider left the config, or lost returns
            return None
        canonical = CanonicalOrder.model_validate_json(order.body, context=STORED)
        if order.phase is Phase.PARTS:
            # A split order's return of one part's lines goes to that part: the provider
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
