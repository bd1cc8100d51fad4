"""Fake clocks (`gateway.clock.Clock`), so that no test waits for time to pass.

- `FakeClock`: time stands still; `sleep` moves it on at once (backoff tests of one component).
- `SkipAheadClock`: real time, plus what a test skipped with `advance` — the whole gateway
  runs on it as on the system clock, and a test jumps over the waits it would sit through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class FakeClock:
    def __init__(self, start: float = 1_000.0, wall: float = 1_800_000_000.0) -> None:
        self._mono = start
        self._wall_offset = wall - start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._mono + self._wall_offset

    def advance(self, seconds: float) -> None:
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._mono += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass(eq=False)
class _Sleeper:
    wake: float
    """The clock's monotonic time it wakes at."""
    future: asyncio.Future[None]
    task: asyncio.Task[Any] | None
    timer: asyncio.TimerHandle | None = None
    """Wakes it in real time, should nobody skip ahead."""


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SkipAheadClock:
    SETTLE_S = 10.0
    """How long (real time) a task woken by `advance` may take to sleep again or end."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self._sleepers: set[_Sleeper] = set()

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def time(self) -> float:
        return time.time() + self.skipped

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(
            self.monotonic() + max(0.0, seconds), loop.create_future(), asyncio.current_task()
        )
        self._arm(sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper.future
        finally:
            self._sleepers.discard(sleeper)
            if sleeper.timer is not None:
                sleeper.timer.cancel()

    async def advance(self, seconds: float) -> None:
        """Skip `seconds`, from one sleeper's wake time to the next: each time, wake what is
        due and let it run until it sleeps on the clock again or ends (a loop's round, a
        retry's next try), so that every round due meanwhile has run when this returns."""
        target = self.monotonic() + seconds
        for _ in range(100_000):
            due = [s for s in self._pending() if s.wake <= target]
            if not due:
                break
            first = min(s.wake for s in due)
            self._skip_to(first)
            woken = [s for s in self._pending() if s.wake <= max(first, self.monotonic())]
            for s in woken:
                _wake(s.future)
            await self._settle({s.task for s in woken if s.task is not None})
        else:
            raise AssertionError("sleepers keep coming due: a busy loop on the clock?")
        self._skip_to(target)

    async def skipping(self, aw: Awaitable[T], step: float = 0.1, timeout: float = 30.0) -> T:
        """`aw`'s result, skipping `step` of the clock at a time while it waits (a request that
        waits out its budget on the clock, a retry's backoff); `timeout` is real time (each
        step runs the background loops' rounds due in it)."""
        task = asyncio.ensure_future(aw)
        deadline = time.monotonic() + timeout
        while not task.done():
            assert time.monotonic() < deadline, "still waiting, with the clock skipping ahead"
            await self.advance(step)
            await asyncio.sleep(0.001)  # the awaited's I/O (a socket, the store) goes on
        return task.result()

    async def sleeping(self, name: str) -> None:
        """Wait until the task called `name` sleeps on the clock (a background loop between
        two rounds: `gateway/workers/loops.py` names each after its job)."""
        deadline = time.monotonic() + self.SETTLE_S
        while not any(s.task is not None and s.task.get_name() == name for s in self._pending()):
            assert time.monotonic() < deadline, f"{name} never slept"
            await asyncio.sleep(0.001)

    @property
    def sleepers(self) -> int:
        """How many sleeps on this clock are pending."""
        return len(self._pending())

    def _pending(self) -> list[_Sleeper]:
        return [s for s in self._sleepers if not s.future.done()]

    def _skip_to(self, at: float) -> None:
        self.skipped += max(0.0, at - self.monotonic())
        for s in self._pending():
            self._arm(s)

    def _arm(self, sleeper: _Sleeper) -> None:
        if sleeper.timer is not None:
            sleeper.timer.cancel()
        delay = max(0.0, sleeper.wake - self.monotonic())
        sleeper.timer = asyncio.get_running_loop().call_later(delay, _wake, sleeper.future)

    async def _settle(self, tasks: set[asyncio.Task[Any]]) -> None:
        deadline = time.monotonic() + self.SETTLE_S
        while True:
            await asyncio.sleep(0)
            sleeping = {s.task for s in self._pending()}
            busy = [t for t in tasks if not t.done() and t not in sleeping]
            if not busy:
                return
            assert time.monotonic() < deadline, f"still busy: {[t.get_name() for t in busy]}"
            await asyncio.sleep(0.001)  # woken tasks wait for I/O (the store, a provider)
