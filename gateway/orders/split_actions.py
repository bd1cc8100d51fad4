"""What a client does to a split order, part by part: refresh (each sent part read from its
provider, its news taken as a poll's would be) and cancel.

Cancelling a split order: every part that can be cancelled is, each where it stands — a
part not sent yet in the gateway alone, a part at its provider through the provider's cancel
— and the order's status follows its parts' (`Store.advance_part`). The parts that cannot
be cancelled (delivered or refused already, being submitted this instant, at a provider that
cancels nothing, or too late at the provider) are named in one `NotCancellable` raised after
the others were cancelled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from gateway.clock import Clock
from gateway.errors import Conflict, LeaseLost
from gateway.errors.refusals import NotCancellable
from gateway.model.lifecycle import FINAL
from gateway.model.orders import Phase, Status
from gateway.orders.news import part_news
from gateway.orders.parts import part_subject, read_part
from gateway.orders.refs import provider_ref
from gateway.providers.base import Provider, ProviderOrder, canceller_of
from gateway.store import OrderReads, OrderRow, PartRow, PartStep, PartStore

log = structlog.get_logger(__name__)

CANCELLED_BY_CLIENT = "cancelled by the client"


class SplitCancelStore(OrderReads, PartStore, Protocol):
    """What refreshing and cancelling a split order needs of the store."""


@dataclass(frozen=True, slots=True)
class SplitActions:
    """Refresh and cancel of a split order, each part where it stands."""

    store: SplitCancelStore
    providers: Mapping[str, Provider]
    clock: Clock

    async def refresh(self, row: OrderRow, *, by: tuple[str, str]) -> OrderRow:
        """Read every part at its provider now (a part not there yet is left as it is)."""
        for part in await self.store.parts_of(row.id):
            provider = self.providers.get(part.provider)
            if part.phase is not Phase.DONE or part.provider_order_id is None or provider is None:
                continue
            await self.refresh_part(provider, part, "refreshed by the client", by=by)
        return await self.store.get_order(row.id) or row

    async def refresh_part(
        self, provider: Provider, part: PartRow, why: str, *, by: tuple[str, str]
    ) -> PartRow:
        """Read the part at its provider and take its status as news, with `why` (its
        tracking is left as it is)."""
        current = await read_part(provider, part)
        return await self._news(part, current, why, by)

    async def cancel(self, row: OrderRow, *, by: tuple[str, str]) -> OrderRow:
        """Cancel every part of the split order `row` that can be; `NotCancellable` naming the
        others (once those that could were cancelled)."""
        refused: list[str] = []
        for part in await self.store.parts_of(row.id):
            reason = await self._cancel_one(part, by=by)
            if reason is not None:
                refused.append(f"part {part.part} ({part.provider} {part.warehouse}): {reason}")
        current = await self.store.get_order(row.id) or row
        if refused:
            log.info("order.cancel_partial", order_id=row.id, refused=len(refused))
            raise NotCancellable(
                "; ".join(refused),
                order_id=row.id,
                order_status=current.status.value,
                provider=row.provider,
            )
        log.info("order.cancelled", order_id=row.id, at="parts")
        return current

    async def _cancel_one(self, part: PartRow, *, by: tuple[str, str]) -> str | None:
        """Cancel one part; why it cannot be, or None once it is cancelled."""
        source, actor = by
        if part.status is Status.CANCELLED:
            return None
        if part.status in FINAL:
            return f"the part is {part.status} already"
        if part.phase is Phase.PENDING:
            step = PartStep(
                phase=Phase.CANCELLED,
                status=Status.CANCELLED,
                release=True,
                source=source,
                actor=actor,
                detail=CANCELLED_BY_CLIENT,
            )
            try:
                await self.store.advance_part(
                    part.id, owner=None, step=step, unsent_at=self.clock.time()
                )
            except LeaseLost:
                return "the part is being submitted to its provider: try again shortly"
            return None
        if part.phase is not Phase.DONE or part.provider_order_id is None:
            return f"the part is {part.status} ({part.phase})"
        provider = self.providers.get(part.provider)
        canceller = canceller_of(provider) if provider is not None else None
        if canceller is None:
            return f"{part.provider} does not cancel orders through its API"
        try:
            with part_subject(part):
                result = await canceller.cancel(provider_ref(part))
        except Conflict as exc:
            return exc.message
        await self._news(part, result, CANCELLED_BY_CLIENT, by)
        return None

    async def _news(
        self, part: PartRow, answer: ProviderOrder, why: str, by: tuple[str, str]
    ) -> PartRow:
        """What the provider answered about the part, taken as news of it (`part_news`)."""
        source, actor = by
        return await part_news(
            self.store,
            part,
            answer.status,
            answer.raw_status,
            why,
            source=source,
            actor=actor,
            now=self.clock.time(),
        )
