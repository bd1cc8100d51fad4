"""The returns loops, each a job of one `Loops`:

- submitter: returns (and parts of returns spanning parts of a split order) still to send to
  their provider (left by a provider outage that outlasted the request's budget, or a process
  that died with the lease), each due on its own backoff, at the order submitter's poll
  interval (`ReturnSubmitter.submit_due`);
- poller: unfinished returns (and return parts) read back from their providers every
  `[returns] poll_interval_s` (`ReturnPoller`: providers send no return webhooks), so the
  status callers see moves on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.returns.submission import ReturnSubmitter
from gateway.workers.loops import Loops
from gateway.workers.poller import ReturnPoller

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def run_return_workers(
    submitter: ReturnSubmitter, poller: ReturnPoller, settings: Settings, *, clock: Clock
) -> AsyncIterator[None]:
    async def poll() -> None:
        if read := await poller.poll():
            log.debug("return.poll.done", returns=read)

    async with Loops(clock) as loops:
        loops.start("return-submitter", submitter.submit_due, settings.submission.poll_interval_s)
        loops.start("return-poller", poll, settings.returns.poll_interval_s)
        yield
