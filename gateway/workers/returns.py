"""The returns loops, each a `periodic` job:

- submitter: returns still to send to their provider (left by a provider outage, a request
  that ran out of budget, or a process that died with the lease), each due on its own
  backoff, at the order submitter's poll interval;
- poller: unfinished returns read back from their providers every `[returns]
  poll_interval_s` (providers send no return webhooks), so the status callers see moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog

from gateway.config import Settings
from gateway.returns.service import ReturnService
from gateway.returns.submission import ReturnSubmitter
from gateway.store import Store
from gateway.workers.submitter import periodic

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def run_return_workers(
    store: Store, submitter: ReturnSubmitter, service: ReturnService, settings: Settings
) -> AsyncIterator[None]:
    stop = asyncio.Event()

    async def submit_due() -> None:
        room = settings.submission.batch - len(submitter.running)
        if room <= 0:
            return
        lease = submitter.new_lease()
        rows = await store.claim_due_returns(
            owner=lease, now=time.time(), lease_until=submitter.lease_until(), limit=room
        )
        for row in rows:
            log.info("return.submitter.picked", return_id=row.id, phase=row.phase)
            submitter.spawn(row, lease)

    every_s = settings.returns.poll_interval_s

    async def poll() -> None:
        if read := await service.poll(limit=settings.returns.poll_batch, older_than_s=every_s):
            log.debug("return.poll.done", returns=read)

    loops = [
        asyncio.create_task(
            periodic("return-submitter", submit_due, settings.submission.poll_interval_s, stop),
            name="return-submitter",
        ),
        asyncio.create_task(periodic("return-poller", poll, every_s, stop), name="return-poller"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
