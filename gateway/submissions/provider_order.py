"""`ProviderOrderDriver`: the phases of a submission that becomes one provider order — an
order, or one part of a split order — written once for both.

    pending ─▶ creating ─▶ created(provider_id) ─▶ confirming ─▶ done      (or ─▶ failed)

`creating` is committed *before* the create is sent, so after a crash at any point the next
owner knows what may have happened:

- `creating`: a create (and a confirm) may have reached the provider → `find` (reconcile) by
  the row's reference first, and create only if the provider holds nothing;
- `confirming`: a confirm may have happened → confirming again is safe (the adapter settles an
  "already confirmed" answer by reading the order).

On the happy path the provider's id is not committed on its own: create, confirm and `done`
(with the id) take two commits in all — before and after — and an order's `done` is not waited
for (it rides the next group commit: lost in a crash, the row is still `creating` and is
reconciled), so only the commit before the call waits for the disk. The id and `confirming`
are stored early only when a confirm fails, so its retry needs no lookup. A provider order
found under the reference that another row holds is never adopted: the row ends in
`exception` for an operator.

A subclass says where its rows are stored (`_stored`), how its rows' steps are built
(`_transition`, `_done`) and which rows may hold a provider order (`_holder`); the store's
calls, a retry's step (its phase kept) and a refusal's (failed, rejected) are written here once
for both; leases, retries and refusals are `SubmissionDriver`'s.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar

import structlog

from gateway.errors import CircuitOpen, ProviderError, ProviderOrderTaken
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.providers.base import Provider, ProviderOrder, ProviderOrderRef, Submission
from gateway.submissions.driver import SubmittedRow, W
from gateway.submissions.leases import S
from gateway.submissions.stored import StoredDriver

log = structlog.get_logger(__name__)


class ProviderOrderRow(SubmittedRow, Protocol):
    @property
    def phase(self) -> Phase: ...
    @property
    def provider_order_id(self) -> str | None: ...
    @property
    def provider_data(self) -> Mapping[str, str]: ...
    @property
    def reference(self) -> str: ...


P = TypeVar("P", bound=ProviderOrderRow)
T = TypeVar("T")
"""A committed step of the row (`Transition`, `PartStep`)."""

TAKEN_ERROR = {
    "error": "provider-order-taken",
    "detail": "the provider order found under this reference belongs to another order; an"
    " operator must look",
}
"""Shown to the tenant: the other order is named in the log only."""


class ProviderOrderDriver(StoredDriver[P, W, S, T], Generic[P, W, S, T]):
    open_phases = OPEN_PHASES
    missing_error = "provider-not-configured"

    @abc.abstractmethod
    def _transition(self, phase: Phase, **fields: Any) -> T:
        """A step of this resource into `phase` with the common fields (`status`,
        `provider_order_id`, `provider_data`, `count_attempt`, `release`, `last_error`,
        `detail`)."""

    @abc.abstractmethod
    def _done(self, row: P, confirmed: ProviderOrder | None) -> T:
        """The step that ends the submission `done`/`submitted`, with what the confirm's
        answer said (None: the provider does not confirm)."""

    @abc.abstractmethod
    async def _holder(self, row: P, provider_order_id: str) -> str | None:
        """The id of the order holding this provider order, if it is not this row."""

    def _adoption_refused(self, row: P) -> None:
        """Counted where the resource keeps a metric of it."""

    async def _later(
        self, row: P, lease: str, error: dict[str, object], next_attempt_at: float
    ) -> P:
        step = self._transition(
            row.phase, last_error=error, next_attempt_at=next_attempt_at, release=True
        )
        return await self._step(row, lease, step)

    async def _rejected(self, row: P, lease: str, error: dict[str, object], detail: str) -> P:
        step = self._transition(
            Phase.FAILED,
            status=Status.REJECTED,
            last_error=error,
            release=True,
            count_attempt=True,
            detail=detail,
        )
        return await self._step(row, lease, step)

    async def _phases(
        self, row: P, lease: str, provider: Provider, sub: Submission, *, unsent: bool = False
    ) -> P:
        """Drive the row from where it stands to `done`; raises `ProviderError`. `unsent`: the
        row is stored `creating` by the request now sending it, so nothing can be at the
        provider yet and no look-up is needed."""
        try:
            return await self._from(row, lease, provider, sub, unsent)
        except ProviderOrderTaken as exc:
            return await self._refuse_adoption(row, lease, exc)

    async def _from(
        self, row: P, lease: str, provider: Provider, sub: Submission, unsent: bool
    ) -> P:
        bound = log.bind(**{self.id_field: row.id}, provider=row.provider)
        event = self.log_prefix + "submission."
        # A provider that confirms goes straight from creating to confirming (recovery is the
        # same: confirm is idempotent once confirmed).
        created = Phase.CONFIRMING if provider.capabilities.confirm else Phase.CREATED
        if row.phase is Phase.PENDING or unsent:
            if not provider.healthy():
                # Nothing was sent: the row stays `pending` (so still cancellable and
                # changeable in the gateway alone) instead of entering `creating` for a call
                # the circuit would refuse anyway.
                if unsent:
                    row = await self._step(row, lease, self._transition(Phase.PENDING))
                raise CircuitOpen(row.provider, "circuit open: not sending yet")
            if row.phase is Phase.PENDING:
                creating = self._transition(Phase.CREATING, count_attempt=True)
                row = await self._step(row, lease, creating)
            ref = await provider.create(sub)
            # At debug: on the happy path `done` names the provider's id a moment later; a
            # confirm that fails is logged (`deferred`) with the phase that holds the id.
            bound.debug(event + "created", provider_order_id=ref.id)
            # The provider's id is kept in memory, not committed alone: `done` stores it, and
            # until then the row is `creating` in the store, which a crash recovers by lookup.
            row = replace(row, phase=created, provider_order_id=ref.id, provider_data=ref.data)  # type: ignore[type-var]
        elif row.phase is Phase.CREATING:
            # A create may have reached the provider before we lost track: look first.
            found = await provider.find(sub)
            pid = None if found is None else found.id
            bound.info(event + "reconciled", found=found is not None, provider_order_id=pid)
            if found is not None and (holder := await self._holder(row, found.id)) is not None:
                raise ProviderOrderTaken(row.provider, found.id, holder)
            if found is None:
                again = self._transition(Phase.CREATING, count_attempt=True)
                await self._step(row, lease, again)
                found = await provider.create(sub)
                bound.info(event + "created", provider_order_id=found.id)
            row = replace(row, phase=created, provider_order_id=found.id, provider_data=found.data)  # type: ignore[type-var]
        if row.phase is Phase.CREATED and provider.capabilities.confirm:
            row = await self._step(row, lease, self._transition(Phase.CONFIRMING))
        confirmed = None
        if row.phase is Phase.CONFIRMING:
            assert row.provider_order_id is not None
            try:
                confirmed = await provider.confirm(
                    ProviderOrderRef(row.provider_order_id, row.provider_data)
                )
            except ProviderError:
                # Store the id now, so the retry confirms without looking the order up first.
                keep = self._transition(
                    Phase.CONFIRMING,
                    provider_order_id=row.provider_order_id,
                    provider_data=row.provider_data,
                )
                await self._step(row, lease, keep)
                raise
        if row.phase in (Phase.CREATED, Phase.CONFIRMING):
            row = await self._step(row, lease, self._done(row, confirmed))
            bound.info(event + "done", provider_order_id=row.provider_order_id)
        return row

    async def _refuse_adoption(self, row: P, lease: str, exc: ProviderOrderTaken) -> P:
        """End the row in `exception` for an operator: neither adopt the other order nor
        create a second one under the same reference."""
        log.error(
            self.log_prefix + "submission.adoption_refused",
            **{self.id_field: row.id},
            provider=row.provider,
            provider_order_id=exc.provider_order_id,
            held_by=exc.holder,
            reference=row.reference,
        )
        self._adoption_refused(row)
        current = await self._get(row.id) or row
        step = self._transition(
            Phase.FAILED,
            status=Status.EXCEPTION,
            last_error=TAKEN_ERROR,
            release=True,
            detail="provider order found under this reference belongs to another order",
        )
        return await self._step(current, lease, step)
