"""The returns loops, each a `periodic` job:

- submitter: returns still to send to their provider (left by a provider outage that outlasted
  the request's budget, or a process that died with the lease), each due on its own backoff,
  at the order submitter's poll interval (`ReturnSubmitter.submit_due`);
- poller: unfinished returns read back from their providers every `[returns]
  poll_interval_s` (`ReturnPoller`: providers send no return webhooks), so the status callers
  see moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from gateway.config import Settings
from gateway.returns.submission import ReturnSubmitter
from gateway.workers.poller import ReturnPoller
from gateway.workers.submitter import periodic

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def run_return_workers(
    submitter: ReturnSubmitter, poller: ReturnPoller, settings: Settings
) -> AsyncIterator[None]:
    stop = asyncio.Event()

    async def poll() -> None:
        if read := await poller.poll():
            log.debug("return.poll.done", returns=read)

    every_s = settings.submission.poll_interval_s
    loops = [
        asyncio.create_task(
            periodic("return-submitter", submitter.submit_due, every_s, stop),
            name="return-submitter",
        ),
        asyncio.create_task(
            periodic("return-poller", poll, settings.returns.poll_interval_s, stop),
            name="return-poller",
        ),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
