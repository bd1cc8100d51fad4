"""`Submitter`: drives one order through its submission phases, exactly once at the provider.

    pending ─▶ creating ─▶ created(provider_id) ─▶ confirming ─▶ done      (or ─▶ failed)

Each phase is committed *before* the provider call it announces, so after a crash at any
point the next owner knows what may have happened:

- `creating`: a create may have reached the provider → `find` (reconcile) first, and create
  only if the provider holds nothing;
- `confirming`: a confirm may have happened → confirming again is safe (the adapter settles an
  "already confirmed" answer by reading the order).

An order is owned through a lease that the running task renews; if the process dies the
lease runs out and any worker (this process after a restart, or another replica) resumes it.
A provider's final refusal (`Invalid` and the other non-retryable errors) ends the order
`rejected`; everything retryable is scheduled again with per-order exponential backoff.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Mapping

import structlog

from gateway.config import SubmissionSettings
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.providers.base import (
    CircuitOpen,
    Provider,
    ProviderError,
    RateLimited,
    Submission,
)
from gateway.store import LeaseLost, OrderRow, ProviderFacts, Store, Transition

log = structlog.get_logger(__name__)


def retry_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Per-order backoff: exponential with equal jitter, so a queue drains steadily."""
    ceiling = min(cap, base * (2 ** max(0, attempts)))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class Submitter:
    """Runs submissions; one task per order at a time, each under its own lease token.

    A lease token is unique per claim (not per process), so the request path and the
    background loop of the same process can never both drive one order.
    """

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        settings: SubmissionSettings,
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self.owner = owner
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter)
        self.running: dict[str, asyncio.Task[OrderRow]] = {}
        self._leases: dict[str, str] = {}

    def new_lease(self) -> str:
        """A lease token for one claim: `<process owner>/<random>`."""
        return f"{self.owner}/{uuid.uuid4().hex[:12]}"

    def lease_until(self) -> float:
        return self._clock() + self._settings.lease_s

    def spawn(self, row: OrderRow, lease: str) -> asyncio.Task[OrderRow]:
        """Drive `row`, which `lease` holds, in the background; tracked for shutdown."""
        task = asyncio.create_task(self.run(row, lease), name=f"submit:{row.id}")
        self.running[row.id] = task
        self._leases[row.id] = lease

        def forget(_task: asyncio.Task[OrderRow]) -> None:
            if self.running.get(row.id) is task:
                del self.running[row.id]
                del self._leases[row.id]

        task.add_done_callback(forget)
        return task

    async def claim(self, order_id: str) -> asyncio.Task[OrderRow] | None:
        """The task driving `order_id` in this process, claiming and starting one if free."""
        if (task := self.running.get(order_id)) is not None:
            return task
        lease = self.new_lease()
        row = await self._store.claim(
            order_id, owner=lease, now=self._clock(), lease_until=self.lease_until()
        )
        if row is None:  # done, or another process holds it
            return self.running.get(order_id)
        return self.spawn(row, lease)

    async def run(self, row: OrderRow, lease: str) -> OrderRow:
        """Advance a leased order as far as it goes now; never raises for provider trouble."""
        heartbeat = asyncio.create_task(self._heartbeat(row.id, lease))
        # Every line this submission causes (transport retries, token refreshes) names the order.
        with structlog.contextvars.bound_contextvars(order_id=row.id, provider=row.provider):
            try:
                return await self._run(row, lease)
            except LeaseLost:
                # Our lease ran out and another worker owns the order now: leave it to them.
                log.warning("submission.lease_lost")
                return await self._store.get_order(row.id) or row
            finally:
                heartbeat.cancel()

    async def _run(self, row: OrderRow, lease: str) -> OrderRow:
        provider = self._providers.get(row.provider)
        bound = log.bind(order_id=row.id, provider=row.provider)
        if provider is None:
            # The provider left the config while orders were queued for it: keep them queued.
            bound.error("submission.provider_missing")
            return await self._retry_later(row, lease, {"error": "provider-not-configured"})
        submission = Submission(
            row.id, row.client_id, CanonicalOrder.model_validate_json(row.body), row.warehouse
        )
        try:
            return await self._drive(row, lease, provider, submission)
        except LeaseLost:
            raise
        except ProviderError as exc:
            current = await self._store.get_order(row.id) or row
            if exc.retryable:
                bound.info("submission.deferred", phase=current.phase, **exc.describe())
                return await self._retry_later(current, lease, exc.describe(), exc=exc)
            bound.warning("submission.rejected", phase=current.phase, **exc.describe())
            return await self._step(
                current,
                lease,
                Transition(
                    phase=Phase.FAILED,
                    status=Status.REJECTED,
                    last_error=_error_detail(exc),
                    release=True,
                    count_attempt=True,
                    detail=exc.message,
                ),
            )
        except Exception as exc:  # a bug must not strand the order: keep it queued
            bound.exception("submission.crashed")
            current = await self._store.get_order(row.id) or row
            return await self._retry_later(
                current, lease, {"error": "internal", "detail": repr(exc)}
            )

    async def _drive(
        self, row: OrderRow, lease: str, provider: Provider, sub: Submission
    ) -> OrderRow:
        bound = log.bind(order_id=row.id, provider=row.provider)
        # A provider that confirms goes straight from creating to confirming: one commit less
        # per order, and recovery is the same (confirm is idempotent once confirmed).
        created = Phase.CONFIRMING if provider.capabilities.confirm else Phase.CREATED
        if row.phase is Phase.PENDING:
            if not provider.healthy():
                # Nothing was sent: the order stays `pending` (so still cancellable and
                # changeable in the gateway alone) instead of entering `creating` for a call
                # the circuit would refuse anyway.
                raise CircuitOpen(row.provider, "circuit open: not sending yet")
            row = await self._step(row, lease, Transition(phase=Phase.CREATING, count_attempt=True))
            pid = await provider.create(sub)
            bound.info("submission.created", provider_order_id=pid)
            row = await self._step(row, lease, Transition(phase=created, provider_order_id=pid))
        elif row.phase is Phase.CREATING:
            # A create may have reached the provider before we lost track: look first.
            found = await provider.find(sub)
            bound.info("submission.reconciled", found=found is not None, provider_order_id=found)
            if found is None:
                await self._step(row, lease, Transition(phase=Phase.CREATING, count_attempt=True))
                found = await provider.create(sub)
                bound.info("submission.created", provider_order_id=found)
            row = await self._step(row, lease, Transition(phase=created, provider_order_id=found))
        if row.phase is Phase.CREATED and provider.capabilities.confirm:
            row = await self._step(row, lease, Transition(phase=Phase.CONFIRMING))
        confirmed = None
        if row.phase is Phase.CONFIRMING:
            assert row.provider_order_id is not None
            confirmed = await provider.confirm(row.provider_order_id)
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
                Transition(phase=Phase.DONE, status=Status.SUBMITTED, release=True, facts=facts),
            )
            bound.info("submission.done", provider_order_id=row.provider_order_id)
        return row

    async def _retry_later(
        self,
        row: OrderRow,
        lease: str,
        error: dict[str, object],
        *,
        exc: ProviderError | None = None,
    ) -> OrderRow:
        delay = retry_delay(
            row.attempts,
            base=self._settings.backoff_base_s,
            cap=self._settings.backoff_max_s,
            rng=self._rng,
        )
        if isinstance(exc, RateLimited) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        return await self._step(
            row,
            lease,
            Transition(
                phase=row.phase,
                last_error=error,
                next_attempt_at=self._clock() + delay,
                release=True,
            ),
        )

    async def _step(self, row: OrderRow, lease: str, step: Transition) -> OrderRow:
        return await self._store.advance(row.id, owner=lease, step=step)

    async def _heartbeat(self, order_id: str, lease: str) -> None:
        interval = self._settings.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            renewed = await self._store.renew(order_id, owner=lease, lease_until=self.lease_until())
            if not renewed:
                return

    async def drain(self, grace_s: float) -> int:
        """Shutdown: let running submissions finish for `grace_s`, then cancel the rest.

        A cancelled submission keeps its phase; its lease is released so the next start
        resumes it at once. Returns how many were cancelled.
        """
        tasks = dict(self.running)
        leases = dict(self._leases)
        if not tasks:
            return 0
        _done, pending = await asyncio.wait(tasks.values(), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for order_id, task in tasks.items():
            if task in pending:
                await self._store.release(order_id, owner=leases[order_id])
        return len(pending)


def _error_detail(exc: ProviderError) -> dict[str, object]:
    detail = exc.describe()
    fields = getattr(exc, "fields", None)
    if fields:
        detail["fields"] = [{"loc": f.loc, "msg": f.msg} for f in fields]
    return detail
