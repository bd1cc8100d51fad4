"""The submitter loop: picks up every order that is due and not leased, and drives it.

On start-up this is also crash recovery: orders left in `pending`, `creating`, `created` or
`confirming` by a process that died become due again once that process's lease runs out,
and `Submitter` reconciles before it creates anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog

from gateway.config import Settings
from gateway.orders.submission import Submitter
from gateway.store import Store

log = structlog.get_logger(__name__)

PURGE_EVERY_S = 300.0


@contextlib.asynccontextmanager
async def run_submitter(
    store: Store, submitter: Submitter, settings: Settings
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(_submit_loop(store, submitter, settings, stop), name="submitter"),
        asyncio.create_task(_purge_loop(store, stop), name="idempotency-purge"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)


async def _submit_loop(
    store: Store, submitter: Submitter, settings: Settings, stop: asyncio.Event
) -> None:
    cfg = settings.submission
    log.info("submitter.started", owner=submitter.owner)
    while not stop.is_set():
        try:
            room = cfg.batch - len(submitter.running)
            if room > 0:
                now = time.time()
                lease = submitter.new_lease()
                rows = await store.claim_due(
                    owner=lease, now=now, lease_until=submitter.lease_until(), limit=room
                )
                for row in rows:
                    log.info(
                        "submitter.picked", order_id=row.id, phase=row.phase, attempts=row.attempts
                    )
                    submitter.spawn(row, lease)
        except Exception:  # the loop must outlive a bad moment of the store
            log.exception("submitter.loop_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), cfg.poll_interval_s)
    log.info("submitter.stopped", running=len(submitter.running))


async def _purge_loop(store: Store, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            purged = await store.purge_idempotency(now=time.time())
            if purged:
                log.info("idempotency.purged", records=purged)
        except Exception:
            log.exception("idempotency.purge_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PURGE_EVERY_S)
