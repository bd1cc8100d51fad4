"""`StatusPoller`: reads submitted, not final orders from their provider — the guarantee
behind webhooks, which may be lost, late, or (Logitrail without a URL token) absent.

Per provider, an order is due when its state was neither read nor heard (a webhook counts)
for `status_poll_interval_s`; a round takes the `status_poll_batch` oldest. Claiming an order
stamps its `synced_at`, so replicas sharing a store never poll the same order twice in a
round. Calls go through the provider's transport, so they share its rate limit, concurrency
cap and circuit with submissions; a provider whose circuit is open is skipped this round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import structlog

from gateway.config import ProviderSettings
from gateway.errors import NotFound, ProviderError
from gateway.model.history import Source
from gateway.orders.events import facts_of
from gateway.providers.base import Provider
from gateway.store import OrderRow, Store

log = structlog.get_logger(__name__)

CONCURRENCY = 4
"""Reads in flight per provider: polling must leave the provider's capacity to submissions."""


class StatusPoller:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        settings: Mapping[str, ProviderSettings],
        *,
        clock: Callable[[], float] = time.time,
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
        now = self._clock()
        rows = await self._store.claim_for_poll(
            name,
            now=now,
            older_than=now - block.status_poll_interval_s,
            limit=block.status_poll_batch,
        )
        if not rows:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: OrderRow) -> int:
            async with gate:
                return await self._read(provider, row)

        done = sum(await asyncio.gather(*(one(r) for r in rows)))
        log.info("poller.round", provider=name, due=len(rows), read=done)
        return done

    async def _read(self, provider: Provider, row: OrderRow) -> int:
        assert row.provider_order_id is not None
        try:
            current = await provider.get(row.provider_order_id)
        except NotFound:
            log.warning("poller.order_missing", order_id=row.id, provider=row.provider)
            return 0
        except ProviderError as exc:
            log.info("poller.read_failed", order_id=row.id, **exc.describe())
            return 0
        outcome = await self._store.apply_status(
            row.id,
            current.status,
            source=Source.POLL,
            actor=row.provider,
            detail=f"poll ({current.raw_status})",
            facts=facts_of(current),
            now=self._clock(),
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
