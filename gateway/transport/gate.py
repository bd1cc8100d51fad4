"""`RetryAfterGate`: one provider-wide gate that a 429 (or 503 + Retry-After) closes.

Every call to the provider waits at the gate, so when one call is told to wait, all of them
do — not only the one that got the 429. The gate only ever moves its opening time later.
"""

from __future__ import annotations

import structlog

from gateway.clock import Clock
from gateway.errors import RateLimited

log = structlog.get_logger(__name__)


class RetryAfterGate:
    def __init__(self, provider: str, *, ceiling_s: float, clock: Clock) -> None:
        self._provider = provider
        self._ceiling = ceiling_s
        self._clock = clock
        self._open_at = 0.0  # monotonic

    def close_for(self, seconds: float) -> float:
        """Close the gate for `seconds` (capped at the ceiling); return the capped value."""
        seconds = min(max(0.0, seconds), self._ceiling)
        if self.extend(seconds):
            log.warning("provider.gate.closed", provider=self._provider, seconds=round(seconds, 3))
        return seconds

    def extend(self, seconds: float) -> bool:
        """Keep the gate shut at least `seconds` from now; True if that moved its opening."""
        open_at = self._clock.monotonic() + min(max(0.0, seconds), self._ceiling)
        if open_at > self._open_at:
            self._open_at = open_at
            return True
        return False

    def remaining(self) -> float:
        return max(0.0, self._open_at - self._clock.monotonic())

    async def shut(self) -> bool:
        """Whether a call must wait now (a gate shared by a fleet reads the fleet's first)."""
        return self.remaining() > 0

    async def wait(self, *, deadline: float | None = None) -> None:
        """Wait until the gate is open; raise `RateLimited` if that is after `deadline`."""
        while (left := self.remaining()) > 0:
            if deadline is not None and self._clock.monotonic() + left > deadline:
                raise RateLimited(
                    self._provider,
                    f"provider asked to wait {left:.1f}s, beyond this call's budget",
                    retry_after=left,
                )
            await self._clock.sleep(left)
