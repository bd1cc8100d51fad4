"""`CallWindow`: at most `limit` calls in any `period`, as a provider that limits by window
counts them — this process's own, or its share of the rate when Redis is not there.

A provider counts a call when it arrives: after the gateway took the call's slot, before the
gateway reads its answer; the gateway cannot know when in between. So a call counts from its
slot until `period` after its answer (the slot's `release`), not from the slot alone: however
long the call spends on the way (event-loop lag, a busy host, the network, the provider's own
queue), no window of `period` at the provider ever holds more than `limit`. The price is that
each call takes its own latency out of the rate.

A leaky bucket (aiolimiter) is not that: starting empty it lets `limit` through at once and
then one every `period / limit`, so one window can see nearly twice the limit.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from gateway.clock import Clock


def window_of(max_rate: float, time_period: float) -> tuple[int, float]:
    """(calls, seconds) for a rate: whole calls per `time_period`, rounded down so that a
    share never adds up to more than the account's rate; under one call per period, one call
    per a longer period."""
    if max_rate >= 1:
        return math.floor(max_rate), time_period
    return 1, time_period / max_rate


class CallWindow:
    def __init__(self, limit: int, period: float, *, clock: Clock) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._ended: deque[float] = deque()
        """When the calls still counted ended, oldest first (the clock only moves on)."""
        self._running: dict[LocalSlot, float] = {}
        """Calls not answered yet, with when they count as ended if never released."""
        self._turn = asyncio.Lock()
        """Waiters take their turn in order (a Lock wakes them first come, first served)."""

    async def acquire(self, *, longest_s: float) -> LocalSlot:
        """Wait until one more call fits; `longest_s`: how long the call can take at most."""
        async with self._turn:
            return await self._take(longest_s)

    async def _take(self, longest_s: float) -> LocalSlot:
        while True:
            now = self._clock.monotonic()
            while self._ended and self._ended[0] + self.period <= now:
                self._ended.popleft()
            if len(self._ended) + len(self._running) >= self.limit:
                for slot, until in list(self._running.items()):
                    if until + self.period <= now:  # never released: counted as long as it
                        del self._running[slot]  # could have been on its way, no longer
            if len(self._ended) + len(self._running) < self.limit:
                slot = LocalSlot(self)
                self._running[slot] = now + longest_s
                return slot
            # A running call ends now at the earliest, so it frees its place a period on.
            first = self._ended[0] if self._ended else now
            await self._clock.sleep(first + self.period - now)

    def _release(self, slot: LocalSlot) -> None:
        if self._running.pop(slot, None) is not None:
            self._ended.append(self._clock.monotonic())


class LocalSlot:
    __slots__ = ("_window",)

    def __init__(self, window: CallWindow) -> None:
        self._window = window

    def release(self) -> None:
        self._window._release(self)
