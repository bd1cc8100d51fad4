"""What a provider's read of an order says, taken in: by a client's cancel, change or refresh
(`OrderChanges`), by the poller, and by an ids-only webhook (`WebhookIntake`)."""

from __future__ import annotations

from gateway.model.lifecycle import Outcome
from gateway.providers.base import ProviderOrder
from gateway.store import OrderChanges, ProviderFacts


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
