"""The returns loop: returns still to send to their provider (left by a provider outage, a
request that ran out of budget, or a process that died with the lease), each due on its own
backoff. Same `periodic` shape and poll interval as the order submitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog

from gateway.config import Settings
from gateway.returns.submission import ReturnSubmitter
from gateway.store import Store
from gateway.workers.submitter import periodic

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def run_return_workers(
    store: Store, submitter: ReturnSubmitter, settings: Settings
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

    loop = asyncio.create_task(
        periodic("return-submitter", submit_due, settings.submission.poll_interval_s, stop),
        name="return-submitter",
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(loop, return_exceptions=True)
