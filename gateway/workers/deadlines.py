"""The deadline loops: holds that ran out are released (`OrderHolds.release_due`), and orders
not shipped by their `ship_by` are found late (`Holds.mark_late`: each once, whichever replica
finds it), `gateway_orders_late` set from the store. Both wait on the clock, so a test that
skips it ahead wakes them; both claim in the store, so replicas and restarts never repeat one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.observability.metrics import Metrics
from gateway.orders.holds import OrderHolds
from gateway.store.holds import Holds
from gateway.workers.loops import Loops

log = structlog.get_logger(__name__)

LATE_BATCH = 100


@contextlib.asynccontextmanager
async def run_deadline_workers(
    holds: OrderHolds, store: Holds, settings: Settings, *, metrics: Metrics, clock: Clock
) -> AsyncIterator[None]:
    async def release() -> None:
        if released := await holds.release_due():
            log.info("holds.released", orders=released)

    async def late() -> None:
        while found := await store.mark_late(now=clock.time(), limit=LATE_BATCH):
            for row in found:
                log.warning("order.late", order_id=row.id, provider=row.provider or None)
            if len(found) < LATE_BATCH:
                break
        metrics.set_late(await store.late_counts(), settings.providers)

    every = settings.submission.poll_interval_s
    async with Loops(clock) as loops:
        loops.start("hold-release", release, every)
        loops.start("late-orders", late, every)
        yield
