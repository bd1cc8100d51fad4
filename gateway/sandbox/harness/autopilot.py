"""`Autopilot`: a sandbox's demo mode, walking each order through its lifecycle on a timer.

One step every `every_s` seconds, each a real status change (so its webhook goes out), until
the end of its steps — or until something else moved the order (a test, a cancel): then it
stops for that order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import structlog

log = structlog.get_logger(__name__)


class _Order(Protocol):
    @property
    def id(self) -> Any: ...

    @property
    def status(self) -> str: ...


OrderT = TypeVar("OrderT", bound=_Order)


class Autopilot:
    def __init__(self, provider: str, every_s: float | None) -> None:
        """`every_s` None: off (`start` does nothing)."""
        self._provider = provider
        self._every_s = every_s
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, order: OrderT, steps: Sequence[str], set_status: Callable[[OrderT, str], None]
    ) -> None:
        """Walk `order` from `steps[0]` (its status now) through the rest."""
        if self._every_s is None:
            return
        task = asyncio.create_task(self._walk(order, steps, set_status, self._every_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _walk(
        self,
        order: OrderT,
        steps: Sequence[str],
        set_status: Callable[[OrderT, str], None],
        every_s: float,
    ) -> None:
        for previous, status in itertools.pairwise(steps):
            await asyncio.sleep(every_s)
            if order.status != previous:
                return
            set_status(order, status)
            log.info(
                f"sandbox.{self._provider}.autopilot.advanced", order_id=order.id, status=status
            )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
