"""`ReturnSubmitter`: drives one return to its provider, exactly once.

    pending ─▶ creating ─▶ done(provider_return_id)      (or ─▶ failed)

`creating` is committed *before* the create call, so after a crash (or a create whose answer
was lost) the next attempt asks the provider for the return first (`find_return`) and creates
only if it holds nothing. A return is owned through a lease (one token per claim) that the
running task renews, as for orders: whoever holds it is the only one calling, and a dead
process's returns resume within `submission.lease_s`. A provider's final refusal ends the
return `rejected`; everything retryable is scheduled again with per-return backoff, by the
background loop.
"""

from __future__ import annotations

import asyncio

import structlog

from gateway.errors import LeaseLost, ProviderError
from gateway.model.orders import CanonicalOrder
from gateway.model.returns import CanonicalReturn, ReturnPhase, ReturnStatus
from gateway.model.text import STORED
from gateway.orders.leases import LeasedRunner
from gateway.orders.submission import retry_delay
from gateway.providers.base import ReturnSubmission, returns_of
from gateway.store import ReturnRow, ReturnStep

log = structlog.get_logger(__name__)


class ReturnSubmitter(LeasedRunner[ReturnRow]):
    """Runs return submissions (`LeasedRunner`: one task per return, each under its lease)."""

    task_prefix = "return"

    async def _renew(self, row_id: str, lease: str, until: float) -> bool:
        return await self._store.renew_return(row_id, owner=lease, lease_until=until)

    async def _release(self, row_id: str, lease: str) -> None:
        await self._store.release_return(row_id, owner=lease)

    async def run(self, row: ReturnRow, lease: str) -> ReturnRow:
        """Advance a leased return as far as it goes now; never raises for provider trouble."""
        heartbeat = asyncio.create_task(self._heartbeat(row.id, lease))
        try:
            return await self._run(row, lease)
        except LeaseLost:
            log.warning("return.submission.lease_lost", return_id=row.id)
            return await self._store.get_return(row.id) or row
        finally:
            heartbeat.cancel()

    async def _run(self, row: ReturnRow, lease: str) -> ReturnRow:
        bound = log.bind(return_id=row.id, provider=row.provider)
        provider = self._providers.get(row.provider)
        returns = returns_of(provider) if provider is not None else None
        order = await self._store.get_order(row.order_id)
        if returns is None or order is None:
            # The provider left the config (or lost returns) while this waited: keep it queued.
            bound.error("return.submission.provider_missing")
            return await self._retry_later(row, lease, {"error": "returns-unsupported"})
        submission = ReturnSubmission(
            gateway_id=row.id,
            client_id=row.client_id,
            ret=CanonicalReturn.model_validate_json(row.body, context=STORED),
            order=CanonicalOrder.model_validate_json(order.body, context=STORED),
            provider_order_id=row.provider_order_id,
            reference=row.reference,
        )
        try:
            found = None
            if row.phase is ReturnPhase.CREATING:
                found = await returns.find_return(submission)
                if found is not None:
                    bound.info("return.submission.reconciled", id=found.provider_return_id)
            if found is None:
                row = await self._store.advance_return(
                    row.id, owner=lease, step=ReturnStep(phase=ReturnPhase.CREATING)
                )
                found = await returns.create_return(submission)
        except ProviderError as exc:
            if exc.retryable:
                bound.info("return.submission.deferred", **exc.describe())
                return await self._retry_later(row, lease, exc.describe())
            bound.warning("return.submission.rejected", **exc.describe())
            return await self._store.advance_return(
                row.id,
                owner=lease,
                step=ReturnStep(
                    phase=ReturnPhase.FAILED,
                    status=ReturnStatus.REJECTED,
                    last_error=_error_detail(exc),
                    count_attempt=True,
                    release=True,
                    detail=exc.message,
                ),
            )
        bound.info(
            "return.submitted", provider_return_id=found.provider_return_id, raw=found.raw_status
        )
        return await self._store.advance_return(
            row.id,
            owner=lease,
            step=ReturnStep(
                phase=ReturnPhase.DONE,
                status=found.status,
                provider_status=found.raw_status,
                provider_return_id=found.provider_return_id,
                decision=found.decision,
                clear_error=True,
                count_attempt=True,
                release=True,
                detail=f"{row.provider}: {found.raw_status}",
            ),
        )

    async def _retry_later(self, row: ReturnRow, lease: str, error: dict[str, object]) -> ReturnRow:
        delay = retry_delay(
            row.attempts,
            base=self._settings.backoff_base_s,
            cap=self._settings.backoff_max_s,
            rng=self._rng,
        )
        return await self._store.advance_return(
            row.id,
            owner=lease,
            step=ReturnStep(
                last_error=error,
                next_attempt_at=self._clock() + delay,
                count_attempt=True,
                release=True,
            ),
        )


def _error_detail(exc: ProviderError) -> dict[str, object]:
    detail = exc.describe()
    fields = getattr(exc, "fields", None)
    if fields:
        detail["fields"] = [{"loc": f.loc, "msg": f.msg} for f in fields]
    return detail
