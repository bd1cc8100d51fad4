"""The load generator: `n` calls at a fixed concurrency, bounded in count and in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Call = Callable[[int], Awaitable[bool]]
"""One request; True when it got the answer it should have."""


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0

    def merge(self, other: Sample) -> Sample:
        return Sample(
            self.latencies + other.latencies,
            self.errors + other.errors,
            self.wall_s + other.wall_s,
        )

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def q(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e3 if ordered else 0.0

        return {
            "requests": len(ordered),
            "errors": self.errors,
            "per_s": len(ordered) / self.wall_s if self.wall_s else 0.0,
            "p50_ms": q(0.50),
            "p95_ms": q(0.95),
            "p99_ms": q(0.99),
        }


async def drive(n: int, concurrency: int, call: Call, max_seconds: float, first: int = 0) -> Sample:
    """Calls `first .. first+n-1`, `concurrency` in flight; stops starting new ones after
    `max_seconds` so a slow run ends in bounded time."""
    sample = Sample()
    next_index = first
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < first + n and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            start = time.perf_counter()
            try:
                ok = await call(i)
            except Exception:
                ok = False
            if ok:
                sample.latencies.append(time.perf_counter() - start)
            else:
                sample.errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.wall_s = time.perf_counter() - start
    return sample
