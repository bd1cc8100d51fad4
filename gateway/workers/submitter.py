"""The background loops: submitter (outbox of orders still to send), webhook events not yet
applied, the status poller (one loop per provider), the event dispatcher to subscribers, and
housekeeping (expired idempotency records, old events out, finished webhook events in) — each
a job of one `Loops`, waiting on the clock.

The parts of split orders have a loop of their own (`PartSubmitter.submit_due`), the same
recovery for each part.

On start-up the submitter loop is also crash recovery: orders left in `pending`, `creating`,
`created` or `confirming` by a process that died become due again once that process's lease
runs out (`Submitter.submit_due`), and `Submitter` reconciles before it creates anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.orders.events import MAX_ATTEMPTS as MAX_WEBHOOK_ATTEMPTS
from gateway.orders.events import WebhookIntake
from gateway.orders.parts import PartSubmitter
from gateway.orders.submission import Submitter
from gateway.store import Retention
from gateway.workers.dispatcher import EventDispatcher
from gateway.workers.loops import Loops
from gateway.workers.poller import StatusPoller

log = structlog.get_logger(__name__)

PURGE_EVERY_S = 300.0
EVENTS_EVERY_S = 2.0


@contextlib.asynccontextmanager
async def run_workers(
    store: Retention,
    submitter: Submitter,
    settings: Settings,
    webhooks: WebhookIntake,
    *,
    parts: PartSubmitter,
    poller: StatusPoller,
    dispatcher: EventDispatcher,
    clock: Clock,
) -> AsyncIterator[None]:
    async def purge() -> None:
        now = clock.time()
        if purged := await store.purge_idempotency(now=now):
            log.info("idempotency.purged", records=purged)
        subscribers = [s.id for s in settings.subscribers]
        before = now - settings.events.retention_s
        if purged := await store.purge_events(subscribers, before=before):
            log.info("events.purged", events=purged)
        received_before = now - settings.idempotency.webhook_ttl_s
        if purged := await store.purge_webhook_events(
            before=received_before, max_attempts=MAX_WEBHOOK_ATTEMPTS
        ):
            log.info("webhooks.purged", events=purged)

    async def apply_events() -> None:
        await webhooks.apply_pending()

    async def dispatch() -> None:
        await dispatcher.dispatch()

    loops = Loops(clock)
    loops.start("submitter", submitter.submit_due, settings.submission.poll_interval_s)
    loops.start("part-submitter", parts.submit_due, settings.submission.poll_interval_s)
    loops.start("webhook-events", apply_events, EVENTS_EVERY_S)
    loops.start("idempotency-purge", purge, PURGE_EVERY_S)
    loops.start("dispatcher", dispatch, settings.events.dispatch_interval_s)
    for name in settings.providers:
        loops.start(f"poller:{name}", _poll(poller, name), poller.tick_s(name))
    log.info("workers.started", owner=submitter.owner)
    try:
        yield
    finally:
        await loops.stop()
        log.info("workers.stopped", running=len(submitter.running))


def _poll(poller: StatusPoller, name: str) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await poller.poll(name)

    return job
