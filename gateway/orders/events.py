"""`WebhookIntake`: inbound provider webhooks, stored before they are answered, applied once.

1. The provider verifies and parses the delivery: `precheck` refuses on the headers and query
   alone (`Provider.webhook_precheck`: no credential, a wrong URL token) before a byte of the
   body is read; `receive` verifies the rest (`Provider.webhook_events`: a body signature). A
   forged or unsigned delivery is refused (`WebhookRejected`), one holding more events than
   the provider sends at once too (`WebhookTooLarge`), or one not understood
   (`WebhookMalformed`); nothing of any is stored.
2. Each event is stored under (provider, event id); a redelivery finds it there and is
   acknowledged without being applied again.
3. The gateway answers 2xx once the events are stored (providers deliver at least once).
4. New events are applied in the background: the order is found by the provider's id and the
   news goes through the state machine (`gateway.model.lifecycle`): it moves forward only,
   a regression is recorded in history as ignored. The provider's raw status, tracking code
   and shipment ids are kept on the order. An event for an order not known yet (the webhook
   outran the create's answer) stays stored and is retried by `apply_pending`. News of a
   provider order that is a part of a split order moves that part, and the order's status
   is derived again from its parts' (`Store.advance_part`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import orjson
import structlog

from gateway.clock import Clock
from gateway.errors import (
    NoWebhooks,
    ProviderError,
    WebhookMalformed,
    WebhookRejected,
    WebhookTooLarge,
)
from gateway.model.history import Source
from gateway.observability import audit
from gateway.orders.news import facts_of, part_news
from gateway.orders.parts import read_part
from gateway.orders.refs import provider_ref
from gateway.providers.base import (
    Provider,
    WebhookReceiver,
    webhooks_of,
)
from gateway.store import OrderChanges, OrderReads, PartRow, PartStore, ProviderFacts, StoredEvent
from gateway.store import WebhookIntake as Inbox

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 50
"""An event that cannot be applied this often (its order never became known) is left alone."""


class InboxStore(OrderReads, OrderChanges, PartStore, Inbox, Protocol):
    """What taking provider news in needs of the store."""


class WebhookIntake:
    def __init__(
        self,
        store: InboxStore,
        providers: Mapping[str, Provider],
        *,
        clock: Clock,
    ) -> None:
        self._store = store
        self._providers = providers
        self._clock = clock
        self._tasks: set[asyncio.Task[int]] = set()
        self._in_order = _InOrder()

    def precheck(self, name: str, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """`NoWebhooks` for a provider without webhooks, `WebhookRejected` for a credential
        missing or wrong on the headers and query alone: decided before the body is read."""
        provider = self._provider(name)
        try:
            provider.webhook_precheck(headers, query)
        except WebhookRejected as exc:
            raise _rejected(name, str(exc)) from None
        except UnicodeError:
            raise _rejected(name, _NOT_TEXT) from None

    async def receive(
        self, name: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> dict[str, int]:
        provider = self._provider(name)
        try:
            events = provider.webhook_events(headers, query, body)
        except WebhookRejected as exc:
            raise _rejected(name, str(exc)) from None
        except UnicodeError:
            # The body is bytes: only a header or the query (a credential) fails as text.
            raise _rejected(name, _NOT_TEXT) from None
        except WebhookTooLarge as exc:
            log.warning("webhook.too_large", provider=name, reason=str(exc))
            raise
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise WebhookMalformed(str(exc)) from None
        fresh = []
        for event in events:
            stored = StoredEvent(
                name,
                event.event_id,
                event.topic,
                event.provider_order_id,
                event.status,
                event.raw_status,
                0,
                event.tracking_code,
                event.tracking_url,
                event.shipment_ids,
            )
            if await self._store.record_event(stored, now=self._clock.time()):
                fresh.append(stored)
            else:
                log.info("webhook.duplicate", provider=name, event_id=event.event_id)
        log.info("webhook.received", provider=name, events=len(events), new=len(fresh))
        if fresh:
            task = asyncio.create_task(self._apply_all(fresh))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return {"received": len(events), "new": len(fresh)}

    def _provider(self, name: str) -> WebhookReceiver:
        provider = self._providers.get(name)
        if provider is None or (receiver := webhooks_of(provider)) is None:
            raise NoWebhooks(f"no webhooks are configured for {name!r}")
        return receiver

    async def apply_pending(self, limit: int = 100) -> int:
        """Apply stored events not applied yet (background loop); returns how many applied."""
        events = list(await self._store.unapplied_events(limit=limit, max_attempts=MAX_ATTEMPTS))
        return await self._apply_all(events)

    async def _apply_all(self, events: list[StoredEvent]) -> int:
        applied = 0
        for event in events:
            applied += await self._apply(event)
        return applied

    async def _apply(self, event: StoredEvent) -> int:
        async with self._in_order.hold((event.provider, event.provider_order_id)):
            return await self._apply_now(event)

    async def _apply_now(self, event: StoredEvent) -> int:
        bound = log.bind(provider=event.provider, event_id=event.event_id, topic=event.topic)
        row = None
        if event.provider_order_id is not None:
            row = await self._store.find_by_provider_id(event.provider, event.provider_order_id)
            if row is None:
                part = await self._store.find_part_by_provider_id(
                    event.provider, event.provider_order_id
                )
                if part is not None:
                    return await self._apply_to_part(event, part)
        if row is None:
            await self._store.finish_event(
                event.provider,
                event.event_id,
                now=self._clock.time(),
                error="no order with this provider id (yet)",
            )
            bound.info("webhook.order_unknown", provider_order_id=event.provider_order_id)
            return 0
        facts = ProviderFacts(
            event.raw_status, event.tracking_code, event.tracking_url, event.shipment_ids
        )
        status = event.status
        if status is None:  # ids-only event: read the order (the provider's own advice)
            try:
                with audit.subject("order", row.client_id, row.id):
                    current = await self._providers[event.provider].get(provider_ref(row))
            except (ProviderError, KeyError) as exc:
                await self._store.finish_event(
                    event.provider, event.event_id, now=self._clock.time(), error=repr(exc)
                )
                return 0
            status, facts = current.status, facts_of(current)
        outcome = await self._store.apply_status(
            row.id,
            status,
            source=Source.WEBHOOK,
            actor=event.provider,
            detail=f"{event.topic} ({facts.raw_status})",
            facts=facts,
            now=self._clock.time(),
        )
        await self._store.finish_event(event.provider, event.event_id, now=self._clock.time())
        bound.info("webhook.applied", order_id=row.id, status=status, outcome=outcome)
        return 1

    async def _apply_to_part(self, event: StoredEvent, part: PartRow) -> int:
        """News of one part of a split order: the part moves, the order's status follows."""
        status, raw = event.status, event.raw_status
        code, url = event.tracking_code, event.tracking_url
        if status is None:  # ids-only event: read the part's provider order
            try:
                current = await read_part(self._providers[event.provider], part)
            except (ProviderError, KeyError) as exc:
                await self._store.finish_event(
                    event.provider, event.event_id, now=self._clock.time(), error=repr(exc)
                )
                return 0
            status, raw = current.status, current.raw_status
            code, url = current.tracking_code, current.tracking_url
        await part_news(
            self._store,
            part,
            status,
            raw,
            event.topic,
            source=Source.WEBHOOK,
            actor=event.provider,
            now=self._clock.time(),
            tracking_code=code,
            tracking_url=url,
        )
        await self._store.finish_event(event.provider, event.event_id, now=self._clock.time())
        log.info("webhook.applied", order_id=part.order_id, part=part.part, status=status, raw=raw)
        return 1

    async def drain(self) -> None:
        """Shutdown: finish applying what was received (all of it is stored anyway)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class _InOrder:
    """News about one provider order is applied in the order it arrived in this process.

    A delivery is answered once stored and applied by a task of its own, so two deliveries
    about one order race: on PostgreSQL whichever task gets a pooled connection first commits
    first, and a late, backwards "picked" could land before the "completed" sent ahead of it.
    One lock per order, taken in the order the tasks start (asyncio's locks are FIFO), keeps
    arrival order; orders do not wait for one another.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str | None], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str | None]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_NOT_TEXT = "a credential header or parameter is not valid text"


def _rejected(name: str, reason: str) -> WebhookRejected:
    log.warning("webhook.rejected", provider=name, reason=reason)
    return WebhookRejected(reason)
