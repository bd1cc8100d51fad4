"""Provider exchanges: the buffer written to the store every `FLUSH_EVERY_S` (a batch that
rides the store's other commits), and exchanges past `audit.retention_s` purged."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog

from gateway.clock import Clock
from gateway.config import AuditSettings
from gateway.observability.audit import Recorder
from gateway.store.exchanges import Exchanges
from gateway.workers.loops import Loops

log = structlog.get_logger(__name__)

FLUSH_EVERY_S = 0.5
PURGE_EVERY_S = 300.0


async def flush(recorder: Recorder, store: Exchanges) -> int:
    """Write what the recorder holds; how many (the app's shutdown calls it last)."""
    batch = recorder.drain()
    try:
        await store.add_exchanges(batch)
    except BaseException:
        recorder.restore(batch)  # tried again next round
        raise
    return len(batch)


async def purge(store: Exchanges, settings: AuditSettings, clock: Clock) -> int:
    purged = await store.purge_exchanges(before=clock.time() - settings.retention_s)
    if purged:
        log.info("exchanges.purged", exchanges=purged)
    return purged


@contextlib.asynccontextmanager
async def run_exchange_workers(
    recorder: Recorder, store: Exchanges, settings: AuditSettings, *, clock: Clock
) -> AsyncIterator[None]:
    async def flush_job() -> None:
        await flush(recorder, store)

    async def purge_job() -> None:
        await purge(store, settings, clock)

    async with Loops(clock) as loops:
        loops.start("exchanges-flush", flush_job, FLUSH_EVERY_S)
        loops.start("exchanges-purge", purge_job, PURGE_EVERY_S)
        yield
