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
from gateway.providers.base import Provider, canceller_of
from gateway.store import OrderReads, OrderRow, PartRow, PartStep, PartStore

log = structlog.get_logger(__name__)

CANCELLED_BY_CLIENT = "cancelled by the client"


class SplitCancelStore(OrderReads, PartStore, Protocol):
    """What refreshing and cancelling a split order needs of the store."""


async def refresh_parts(
    store: SplitCancelStore,
    providers: Mapping[str, Provider],
    row: OrderRow,
    *,
    by: tuple[str, str],
    clock: Clock,
) -> OrderRow:
    """Read every part at its provider now (a part not there yet is left as it is)."""
    for part in await store.parts_of(row.id):
        provider = providers.get(part.provider)
        if part.phase is not Phase.DONE or part.provider_order_id is None or provider is None:
            continue
        await refresh_part(store, provider, part, "refreshed by the client", by=by, clock=clock)
    return await store.get_order(row.id) or row


async def refresh_part(
    store: PartStore,
    provider: Provider,
    part: PartRow,
    why: str,
    *,
    by: tuple[str, str],
    clock: Clock,
) -> PartRow:
    """Read the part at its provider and take its status as news, with `why` (its tracking is
    left as it is)."""
    source, actor = by
    current = await read_part(provider, part)
    return await part_news(
        store,
        part,
        current.status,
        current.raw_status,
        why,
        source=source,
        actor=actor,
        now=clock.time(),
    )


async def cancel_parts(
    store: SplitCancelStore,
    providers: Mapping[str, Provider],
    row: OrderRow,
    *,
    by: tuple[str, str],
    clock: Clock,
) -> OrderRow:
    """Cancel every part of the split order `row` that can be; `NotCancellable` naming the
    others (once those that could were cancelled)."""
    refused: list[str] = []
    for part in await store.parts_of(row.id):
        reason = await _cancel_one(store, providers, part, by=by, clock=clock)
        if reason is not None:
            refused.append(f"part {part.part} ({part.provider} {part.warehouse}): {reason}")
    current = await store.get_order(row.id) or row
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


async def _cancel_one(
    store: SplitCancelStore,
    providers: Mapping[str, Provider],
    part: PartRow,
    *,
    by: tuple[str, str],
    clock: Clock,
) -> str | None:
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
            await store.advance_part(part.id, owner=None, step=step, unsent_at=clock.time())
        except LeaseLost:
            return "the part is being submitted to its provider: try again shortly"
        return None
    if part.phase is not Phase.DONE or part.provider_order_id is None:
        return f"the part is {part.status} ({part.phase})"
    provider = providers.get(part.provider)
    canceller = canceller_of(provider) if provider is not None else None
    if canceller is None:
        return f"{part.provider} does not cancel orders through its API"
    try:
        with part_subject(part):
            result = await canceller.cancel(provider_ref(part))
    except Conflict as exc:
        return exc.message
    await part_news(
        store,
        part,
        result.status,
        result.raw_status,
        CANCELLED_BY_CLIENT,
        source=source,
        actor=actor,
        now=clock.time(),
    )
    return None
