"""A fake clock: `sleep` advances time at once, so backoff tests never wait for real."""

from __future__ import annotations

import asyncio


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
