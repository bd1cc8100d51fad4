"""`ReturnDriver`: the phases of a submission that becomes one provider return — a return,
or one part of a return spanning parts of a split order — written once for both.

    pending ─▶ creating ─▶ done(provider_return_id)      (or ─▶ failed)

`creating` is committed *before* the create call, so after a crash (or a create whose answer
was lost) the next attempt asks the provider for the return first (`find_return`, by the
id and reference the row gives it) and creates only if it holds nothing. A subclass says how
its rows are stored (`_stored`) and what one attempt sends (`_prepare`).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

import structlog

from gateway.model.returns import OPEN_RETURN_PHASES, ReturnPhase, ReturnStatus
from gateway.providers.base import ReturnsProvider, ReturnSubmission, returns_of
from gateway.returns.news import provider_said
from gateway.store import ReturnStep
from gateway.submissions.driver import SubmittedRow
from gateway.submissions.leases import S
from gateway.submissions.stored import StoredDriver

log = structlog.get_logger(__name__)

Work = tuple[ReturnsProvider, ReturnSubmission]


class ReturnRowLike(SubmittedRow, Protocol):
    @property
    def phase(self) -> ReturnPhase: ...


RR = TypeVar("RR", bound=ReturnRowLike)


class ReturnDriver(StoredDriver[RR, Work, S, ReturnStep], Generic[RR, S]):
    subject_kind = "return"
    open_phases = OPEN_RETURN_PHASES
    missing_error = "returns-unsupported"

    def _returns_at(self, provider_name: str) -> ReturnsProvider | None:
        """The returns API of the configured provider of that name; None where the provider
        left the config, or offers no returns."""
        provider = self._providers.get(provider_name)
        return returns_of(provider) if provider is not None else None

    async def _later(
        self, row: RR, lease: str, error: dict[str, object], next_attempt_at: float
    ) -> RR:
        step = ReturnStep(
            last_error=error, next_attempt_at=next_attempt_at, count_attempt=True, release=True
        )
        return await self._step(row, lease, step)

    async def _rejected(self, row: RR, lease: str, error: dict[str, object], detail: str) -> RR:
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

    async def _drive(self, row: RR, lease: str, work: Work) -> RR:
        returns, submission = work
        bound = log.bind(**{self.id_field: row.id}, provider=row.provider)
        event = self.log_prefix + "submission."
        found = None
        if row.phase is ReturnPhase.CREATING:
            found = await returns.find_return(submission)
            if found is not None:
                bound.info(event + "reconciled", id=found.provider_return_id)
        if found is None:
            row = await self._step(row, lease, ReturnStep(phase=ReturnPhase.CREATING))
            found = await returns.create_return(submission)
        bound.info(
            self.log_prefix + "submitted",
            provider_return_id=found.provider_return_id,
            raw=found.raw_status,
        )
        done = provider_said(
            row.provider,
            found,
            phase=ReturnPhase.DONE,
            provider_return_id=found.provider_return_id,
            count_attempt=True,
            release=True,
        )
        return await self._step(row, lease, done)
