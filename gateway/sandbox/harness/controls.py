"""`HarnessControls`: the Python control surface every sandbox offers its tests.

A sandbox class inherits it and sets `self._harness`; tests then inject faults, hold and
release calls, and count what was received the same way on every provider.
"""

from __future__ import annotations

from typing import Generic

from gateway.sandbox.harness.calls import CallHarness, F


class HarnessControls(Generic[F]):
    _harness: CallHarness[F]

    @property
    def faults(self) -> list[F]:
        """The injected fault rules, in evaluation order (exhausted ones included)."""
        return self._harness.faults

    def inject(self, fault: F) -> F:
        """Add a fault rule after the existing ones; returns it (watch `.remaining`)."""
        return self._harness.inject(fault)

    def clear_faults(self) -> None:
        self._harness.clear_faults()

    def release(self, op: str | None = None) -> None:
        """Release the calls held now (all, or those of `op`); later calls hold again."""
        self._harness.release(op)

    async def wait_held(
        self,
        op: str,
        n: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the public test API
    ) -> None:
        """Return once `n` calls of `op` (``"*"``: any) are held; `TimeoutError` otherwise."""
        await self._harness.wait_held(op, n, timeout)

    def held(self, op: str = "*") -> int:
        """How many calls of `op` are held right now."""
        return self._harness.held(op)

    def count(self, op: str, *, status: int | None = None) -> int:
        """Recorded requests of `op` (``"*"``: any), optionally only those answered `status`."""
        return self._harness.count(op, status=status)
