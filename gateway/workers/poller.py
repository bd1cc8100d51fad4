"""`StatusPoller`: reads submitted, not final orders from their provider — the guarantee
behind webhooks, which may be lost, late, or (Logitrail without a URL token) absent; and
`ReturnPoller`, the same for returns, which no provider sends webhooks for.

Per provider, an order is due when its state was neither read nor heard (a webhook counts)
for `status_poll_interval_s`; a round takes the `status_poll_batch` oldest. Claiming an order
stamps its `synced_at`, so replicas sharing a store never poll the same order twice in a
round. Calls go through the provider's transport, so they share its rate limit, concurrency
cap and circuit with submissions; a provider whose circuit is open is skipped this round.

A return is due when it was not read for `[returns] poll_interval_s`; a round takes the
`poll_batch` least recently read, of every provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import structlog

from gateway.clock import Clock
from gateway.config import ProviderSettings, ReturnsSettings
from gateway.errors import NotFound, ProviderError
from gateway.model.history import Source
from gateway.model.returns import Decision
from gateway.observability import audit
from gateway.orders.news import part_news, record_read
from gateway.orders.parts import read_part
from gateway.orders.refs import provider_ref
from gateway.providers.base import Provider, returns_of
from gateway.returns.news import provider_said
from gateway.store import (
    OrderChanges,
    OrderRow,
    PartRow,
    PartStore,
    Polling,
    ReturnPartStore,
    ReturnStep,
    ReturnStore,
)

log = structlog.get_logger(__name__)

CONCURRENCY = 4
"""Reads in flight per provider: polling must leave the provider's capacity to submissions."""


class PollStore(Polling, OrderChanges, PartStore, Protocol):
    """What polling orders needs of the store."""


class StatusPoller:
    def __init__(
        self,
        store: PollStore,
        providers: Mapping[str, Provider],
        settings: Mapping[str, ProviderSettings],
        *,
        clock: Clock,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self._clock = clock

    def tick_s(self, provider: str) -> float:
        """How often the poll loop of `provider` looks for due orders."""
        return min(self._settings[provider].status_poll_interval_s / 4, 5.0)

    async def poll(self, name: str) -> int:
        """One round for provider `name`; how many orders were read."""
        provider = self._providers.get(name)
        if provider is None or not provider.healthy():
            return 0
        block = self._settings[name]
        now = self._clock.time()
        older_than = now - block.status_poll_interval_s
        limit = block.status_poll_batch
        rows = await self._store.claim_for_poll(name, now=now, older_than=older_than, limit=limit)
        parts = await self._store.claim_parts_for_poll(
            name, now=now, older_than=older_than, limit=limit
        )
        if not rows and not parts:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: OrderRow) -> int:
            async with gate:
                return await self._read(provider, row)

        async def one_part(part: PartRow) -> int:
            async with gate:
                return await self._read_part(provider, part)

        done = sum(await asyncio.gather(*(one(r) for r in rows), *(one_part(p) for p in parts)))
        log.info("poller.round", provider=name, due=len(rows) + len(parts), read=done)
        return done

    async def _read_part(self, provider: Provider, part: PartRow) -> int:
        """A part of a split order, read as an order is; its news re-derives the order's."""
        try:
            current = await read_part(provider, part)
        except ProviderError as exc:
            log.info("poller.read_failed", order_id=part.order_id, part=part.part, **exc.describe())
            return 0
        tracking = (current.tracking_code, current.tracking_url)
        new_tracking = current.tracking_code is not None and tracking != (
            part.tracking_code,
            part.tracking_url,
        )
        moved = (current.status, current.raw_status) != (part.status, part.provider_status)
        if moved or new_tracking:
            log.info(
                "poller.news",
                order_id=part.order_id,
                part=part.part,
                status=current.status,
                raw_status=current.raw_status,
            )
            await part_news(
                self._store,
                part,
                current.status,
                current.raw_status,
                "poll",
                source=Source.POLL,
                actor=part.provider,
                now=self._clock.time(),
                tracking_code=current.tracking_code,
                tracking_url=current.tracking_url,
            )
        return 1

    async def _read(self, provider: Provider, row: OrderRow) -> int:
        assert row.provider_order_id is not None
        try:
            with audit.subject("order", row.client_id, row.id):
                current = await provider.get(provider_ref(row))
        except NotFound:
            log.warning("poller.order_missing", order_id=row.id, provider=row.provider)
            return 0
        except ProviderError as exc:
            log.info("poller.read_failed", order_id=row.id, **exc.describe())
            return 0
        outcome = await record_read(
            self._store,
            row.id,
            current,
            "poll",
            source=Source.POLL,
            actor=row.provider,
            now=self._clock.time(),
        )
        if outcome.value != "unchanged":
            log.info(
                "poller.news",
                order_id=row.id,
                status=current.status,
                raw_status=current.raw_status,
                outcome=outcome,
            )
        return 1


class _Seen(Protocol):
    """A provider return as last seen: a return's row, or one of its parts'."""

    @property
    def provider(self) -> str: ...
    @property
    def provider_return_id(self) -> str | None: ...
    @property
    def provider_status(self) -> str | None: ...
    @property
    def decision(self) -> Decision | None: ...
    @property
    def client_id(self) -> str: ...


class ReturnPollStore(ReturnStore, ReturnPartStore, Protocol):
    """What reading returns back needs of the store."""


@dataclass(frozen=True, slots=True)
class ReturnPoller:
    store: ReturnPollStore
    providers: Mapping[str, Provider]
    settings: ReturnsSettings
    clock: Clock

    async def poll(self) -> int:
        """Read unfinished returns back from their providers (least recently seen first) —
        and each part of a return spanning parts of a split order, its own provider return.

        Returns how many were read. A provider that cannot answer now is skipped this round;
        the return's (or part's) `checked_at` is stamped either way, so one failing return
        never starves the others.
        """
        now = self.clock.time()
        batch, before = self.settings.poll_batch, now - self.settings.poll_interval_s
        read = 0
        for row in await self.store.open_returns(limit=batch, checked_before=before):
            read += await self._read(
                row, row.id, None, partial(self.store.update_return, row.id), now
            )
        for part in await self.store.open_return_parts(limit=batch, checked_before=before):
            step = partial(self.store.advance_return_part, part.id, owner=None)
            read += await self._read(part, part.return_id, part.part, step, now)
        return read

    async def _read(
        self,
        seen: _Seen,
        return_id: str,
        part: int | None,
        update: Callable[..., Awaitable[object]],
        now: float,
    ) -> int:
        provider = self.providers.get(seen.provider)
        returns = returns_of(provider) if provider is not None else None
        if returns is None or seen.provider_return_id is None:
            return 0
        try:
            with audit.subject("return", seen.client_id, return_id, part=part):
                found = await returns.get_return(seen.provider_return_id)
        except ProviderError as exc:
            log.info("return.poll.failed", return_id=return_id, part=part, **exc.describe())
            await update(step=ReturnStep(last_error=exc.describe(), checked_at=now, touch=False))
            return 0
        if (found.raw_status, found.decision) == (seen.provider_status, seen.decision):
            await update(step=ReturnStep(checked_at=now, touch=False))
            return 1
        log.info("return.poll.changed", return_id=return_id, part=part, raw=found.raw_status)
        said = provider_said(
            seen.provider, found, "poll", source=Source.POLL, actor=seen.provider, checked_at=now
        )
        await update(step=said)
        return 1
