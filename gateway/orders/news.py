"""What a provider's read of an order says, taken in: by a client's cancel, change or refresh
(`OrderChanges`), by the poller, and by an ids-only webhook (`WebhookIntake`); and news of
one part of a split order (`part_news`), which re-derives the order's status."""

from __future__ import annotations

from gateway.model.lifecycle import Outcome
from gateway.model.orders import Status
from gateway.providers.base import ProviderOrder
from gateway.store import OrderChanges, PartRow, PartStep, PartStore, ProviderFacts


def facts_of(order: ProviderOrder) -> ProviderFacts:
    """What a provider's read of an order says besides the canonical status."""
    return ProviderFacts(
        order.raw_status, order.tracking_code, order.tracking_url, order.shipment_ids
    )


async def record_read(
    store: OrderChanges,
    order_id: str,
    found: ProviderOrder,
    why: str,
    *,
    source: str,
    actor: str,
    now: float,
) -> Outcome:
    """`found` through the state machine (`gateway.model.lifecycle`), its facts kept; the
    history entry says `why`, with the provider's own status."""
    return await store.apply_status(
        order_id,
        found.status,
        source=source,
        actor=actor,
        detail=f"{why} ({found.raw_status})",
        facts=facts_of(found),
        now=now,
    )


async def part_news(
    store: PartStore,
    part: PartRow,
    status: Status,
    raw_status: str | None,
    why: str,
    *,
    source: str,
    actor: str,
    now: float,
    tracking_code: str | None = None,
    tracking_url: str | None = None,
) -> PartRow:
    """News of one part (a webhook, a poll): the part takes `status` forward-only, and the
    order's status is derived again from its parts' (`Store.advance_part`); its history and
    event name the part. The tracking the news carries is kept on the part (None keeps
    what it has)."""
    step = PartStep(
        status=status,
        provider_status=raw_status,
        tracking_code=tracking_code,
        tracking_url=tracking_url,
        synced_at=now,
        source=source,
        actor=actor,
        detail=f"{why} ({raw_status})" if raw_status else why,
    )
    return await store.advance_part(part.id, owner=None, step=step)
