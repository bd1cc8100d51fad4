"""`Loops`: background jobs, each run every so many seconds of the clock until stopped.

A loop waits on the clock (`clock.sleep`), so a test's clock that skips ahead wakes it. A loop
that is waiting when stopped is cancelled at once; one whose job is running finishes that run
first (a submission round hands out work, a poll stamps what it read), then ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from gateway.clock import Clock

log = structlog.get_logger(__name__)


class Loops:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    def start(self, name: str, job: Callable[[], Awaitable[None]], every_s: float) -> None:
        """Run `job` now and then every `every_s` seconds; a failing run is logged, not fatal."""
        self._tasks.append(asyncio.create_task(self._run(name, job, every_s), name=name))

    async def _run(self, name: str, job: Callable[[], Awaitable[None]], every_s: float) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stop.is_set():
            try:
                await job()
            except Exception:  # the loop must outlive a bad moment of the store or a provider
                log.exception("worker.failed", worker=name)
            if self._stop.is_set():
                return
            self._waiting.add(me)
            try:
                await self._clock.sleep(every_s)
            finally:
                self._waiting.discard(me)

    async def __aenter__(self) -> Loops:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Cancel the waiting loops, let running jobs finish, and wait for every loop to end."""
        self._stop.set()
        for task in self._waiting:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
