"""`LeasedRunner`: what every durable submitter shares — one task per row, each under its own
lease token, renewed while it works, released at shutdown.

One renewal loop per runner renews every running row's lease each third of `lease_s` (a task
per row, created and cancelled around every submission, cost more than the rare renewal).

A lease token is unique per claim (not per process), so the request path and the background
loop of the same process can never both drive one row. A subclass says how to drive a row
(`run`) and how its store renews and releases a lease.
"""

from __future__ import annotations

import abc
import asyncio
import random
import uuid
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar

import structlog

from gateway.clock import Clock
from gateway.config import SubmissionSettings
from gateway.providers.base import Provider

log = structlog.get_logger(__name__)


class _Row(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Row)
S = TypeVar("S")
"""The part of the store a runner's resource needs (a narrow protocol of `gateway.store`)."""


class LeasedRunner(abc.ABC, Generic[R, S]):
    task_prefix = "run"

    def __init__(
        self,
        store: S,
        providers: Mapping[str, Provider],
        settings: SubmissionSettings,
        *,
        owner: str,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self.owner = owner
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter)
        self.running: dict[str, asyncio.Task[R]] = {}
        self._leases: dict[str, str] = {}
        self._unrenewed: set[str] = set()
        """Leases the store would not renew (another owner took the row): not asked again."""
        self._renewer: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def run(self, row: R, lease: str) -> R:
        """Advance a leased row as far as it goes now."""

    @abc.abstractmethod
    async def _renew(self, row_id: str, lease: str, until: float) -> bool: ...

    @abc.abstractmethod
    async def _release(self, row_id: str, lease: str) -> None: ...

    def new_lease(self) -> str:
        """A lease token for one claim: `<process owner>/<random>`."""
        return f"{self.owner}/{uuid.uuid4().hex[:12]}"

    def lease_until(self) -> float:
        return self._clock.time() + self._settings.lease_s

    def spawn(self, row: R, lease: str) -> asyncio.Task[R]:
        """Drive `row`, which `lease` holds, in the background; tracked for shutdown."""
        task = asyncio.create_task(self.run(row, lease), name=f"{self.task_prefix}:{row.id}")
        self.running[row.id] = task
        self._leases[row.id] = lease

        def forget(_task: asyncio.Task[R]) -> None:
            if self.running.get(row.id) is task:
                del self.running[row.id]
                del self._leases[row.id]

        task.add_done_callback(forget)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(
                self._renew_leases(), name=f"{self.task_prefix}:leases"
            )
        return task

    async def _renew_leases(self) -> None:
        """Every third of `lease_s`, renew the lease of each row still running; ends when none
        is (the next `spawn` starts it again)."""
        interval = self._settings.lease_s / 3
        while self._leases:
            await self._clock.sleep(interval)
            for row_id, lease in list(self._leases.items()):
                if lease in self._unrenewed or self._leases.get(row_id) != lease:
                    continue
                try:
                    renewed = await self._renew(row_id, lease, self.lease_until())
                except Exception as exc:  # the store is down: try again next round
                    log.warning("submission.lease_renewal_failed", row=row_id, error=str(exc))
                    continue
                if not renewed:
                    self._unrenewed.add(lease)
        self._unrenewed.clear()

    async def drain(self, grace_s: float) -> int:
        """Shutdown: let running submissions finish for `grace_s`, then cancel the rest.

        A cancelled submission keeps its phase; its lease is released so the next start
        resumes it at once. Returns how many were cancelled.
        """
        tasks, leases = dict(self.running), dict(self._leases)
        if not tasks:
            await self._stop_renewing()
            return 0
        _done, pending = await asyncio.wait(tasks.values(), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._stop_renewing()
        for row_id, task in tasks.items():
            if task in pending:
                await self._release(row_id, leases[row_id])
        return len(pending)

    async def _stop_renewing(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
