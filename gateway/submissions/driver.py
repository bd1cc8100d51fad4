"""`SubmissionDriver`: what drives any durable submission to its provider exactly once, with
a small part per resource (orders, returns) saying which calls its phases make.

A row is driven under its lease (`LeasedRunner`). Each attempt advances it as far as it goes
now, and never raises for trouble: a provider's final refusal (`Invalid` and the other
non-retryable errors) ends it `rejected`; everything retryable — and a bug, which must not
strand it — keeps its phase and is scheduled again on the row's own backoff (`backoff_delay`,
equal jitter).
The request that stored a row keeps driving it while its budget lasts (`within_budget`);
what is left, and what a dead process left, the background loop takes (`submit_due`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar, Generic, Protocol, TypeVar

import structlog

from gateway.clock import wait_for
from gateway.errors import LeaseLost, ProviderError, RateLimited
from gateway.observability import audit
from gateway.observability.audit import SubjectKind
from gateway.submissions.leases import LeasedRunner, S
from gateway.transport.backoff import backoff_delay

log = structlog.get_logger(__name__)


class SubmittedRow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def phase(self) -> StrEnum: ...
    @property
    def attempts(self) -> int: ...
    @property
    def next_attempt_at(self) -> float: ...
    @property
    def client_id(self) -> str: ...


R = TypeVar("R", bound=SubmittedRow)
W = TypeVar("W")


def error_detail(exc: ProviderError) -> dict[str, object]:
    """A refusal as stored in `last_error` (and shown to the caller): with its field errors."""
    detail = exc.describe()
    fields = getattr(exc, "fields", None)
    if fields:
        detail["fields"] = [{"loc": f.loc, "msg": f.msg} for f in fields]
    return detail


class SubmissionDriver(LeasedRunner[R, S], Generic[R, W, S]):
    """Runs submissions of one resource; a subclass is its part: the store calls for its rows,
    what one attempt needs (`_prepare`: the work `W`, None while its provider is missing) and
    the calls that attempt makes (`_drive`)."""

    log_prefix: ClassVar[str]
    """Before its log events: `<prefix>submission.deferred`, `<prefix>submitter.picked`."""
    id_field: ClassVar[str]
    """The log field naming a row (`order_id`)."""
    subject_kind: ClassVar[SubjectKind] = "order"
    """What the provider exchanges of a row are recorded under (`observability.audit`)."""
    open_phases: ClassVar[frozenset[StrEnum]]
    """Phases a submission is still under way in."""
    missing_error: ClassVar[str]
    """`last_error` while the row's provider cannot take it (left the config)."""

    @abc.abstractmethod
    async def _get(self, row_id: str) -> R | None: ...

    @abc.abstractmethod
    async def _claim(self, row_id: str, lease: str) -> R | None:
        """Lease this row if it is open and free; None otherwise."""

    @abc.abstractmethod
    async def _claim_due(self, lease: str, limit: int) -> Sequence[R]: ...

    @abc.abstractmethod
    async def _prepare(self, row: R) -> W | None: ...

    @abc.abstractmethod
    async def _drive(self, row: R, lease: str, work: W) -> R:
        """Make the calls of the row's phases from where it stands; raises `ProviderError`."""

    @abc.abstractmethod
    async def _later(
        self, row: R, lease: str, error: dict[str, object], next_attempt_at: float
    ) -> R:
        """Store a retry: the row keeps its phase and is released until `next_attempt_at`."""

    @abc.abstractmethod
    async def _rejected(self, row: R, lease: str, error: dict[str, object], detail: str) -> R:
        """Store the provider's final refusal: failed, rejected, released."""

    def _subject(self, row: R) -> tuple[str, int | None]:
        """What the row's provider exchanges are recorded under: the row's own id, and no
        part."""
        return row.id, None

    def _audited(self, row: R) -> contextlib.AbstractContextManager[audit.Subject]:
        subject_id, part = self._subject(row)
        return audit.subject(self.subject_kind, row.client_id, subject_id, part=part)

    # driving -------------------------------------------------------------------
    async def run(self, row: R, lease: str) -> R:
        """Advance a leased row as far as it goes now; never raises for provider trouble."""
        # Every line this submission causes (transport retries, token refreshes) names the row.
        names = {self.id_field: row.id, "provider": row.provider}
        with (
            structlog.contextvars.bound_contextvars(**names),
            self._audited(row),
        ):
            try:
                return await self._run(row, lease)
            except LeaseLost:
                # Our lease ran out and another worker owns the row now: leave it to them.
                log.warning(f"{self.log_prefix}submission.lease_lost")
                return await self._get(row.id) or row

    async def _run(self, row: R, lease: str) -> R:
        bound = log.bind(**{self.id_field: row.id}, provider=row.provider)
        work = await self._prepare(row)
        if work is None:
            # The provider left the config while rows were queued for it: keep them queued.
            bound.error(f"{self.log_prefix}submission.provider_missing")
            return await self._retry_later(row, lease, {"error": self.missing_error})
        try:
            return await self._drive(row, lease, work)
        except LeaseLost:
            raise
        except ProviderError as exc:
            current = await self._get(row.id) or row
            if exc.retryable:
                bound.info(
                    f"{self.log_prefix}submission.deferred", phase=current.phase, **exc.describe()
                )
                return await self._retry_later(current, lease, exc.describe(), exc=exc)
            bound.warning(
                f"{self.log_prefix}submission.rejected", phase=current.phase, **exc.describe()
            )
            return await self._rejected(current, lease, error_detail(exc), exc.message)
        except Exception as exc:  # a bug must not strand the row: keep it queued
            bound.exception(f"{self.log_prefix}submission.crashed")
            current = await self._get(row.id) or row
            return await self._retry_later(
                current, lease, {"error": "internal", "detail": repr(exc)}
            )

    async def _retry_later(
        self,
        row: R,
        lease: str,
        error: dict[str, object],
        *,
        exc: ProviderError | None = None,
    ) -> R:
        delay = backoff_delay(
            row.attempts + 1,
            base=self._settings.backoff_base_s,
            cap=self._settings.backoff_max_s,
            rng=self._rng,
            floor=(exc.retry_after or 0.0) if isinstance(exc, RateLimited) else 0.0,
            jitter="equal",
        )
        return await self._later(row, lease, error, self._clock.time() + delay)

    # who drives ----------------------------------------------------------------
    async def claim(self, row_id: str) -> asyncio.Task[R] | None:
        """The task driving `row_id` in this process, claiming and starting one if free."""
        if (task := self.running.get(row_id)) is not None:
            return task
        lease = self.new_lease()
        row = await self._claim(row_id, lease)
        if row is None:  # done, or another process holds it
            return self.running.get(row_id)
        return self.spawn(row, lease)

    async def submit_due(self) -> None:
        """One round of the background loop: drive the rows due now, as many as there is room
        for (crash recovery too: a dead process's rows are due once its lease runs out)."""
        room = self._settings.batch - len(self.running)
        if room <= 0:
            return
        lease = self.new_lease()
        for row in await self._claim_due(lease, room):
            fields = {self.id_field: row.id, "phase": row.phase, "attempts": row.attempts}
            log.info(f"{self.log_prefix}submitter.picked", **fields)
            self.spawn(row, lease)

    async def within_budget(self, row: R, task: asyncio.Task[R] | None, deadline: float) -> R:
        """Follow `task`, which drives the row a request just stored, while the caller waits,
        retrying on the row's backoff.

        Returns when the row is done or rejected, or when the budget would run out; the
        submission itself is never cancelled — what is not finished goes on in the background.
        """
        while task is not None:
            try:
                row = await wait_for(
                    self._clock, asyncio.shield(task), deadline - self._clock.time()
                )
            except TimeoutError:
                break
            if row.phase not in self.open_phases:
                return row
            wait = max(row.next_attempt_at - self._clock.time(), 0.0)
            if self._clock.time() + wait >= deadline:
                return row
            await self._clock.sleep(wait)
            # Whoever holds the row now (this request or the background loop) drives it.
            task = await self.claim(row.id)
        return await self._get(row.id) or row
