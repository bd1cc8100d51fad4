"""`Feed`: what a tenant reads of the events going out — its feed, and its subscribers'
deliveries — and the retry of a delivery that was dead-lettered.

A tenant sees only its own events and its own subscribers: another tenant's subscriber is
`Unknown` like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import SubscriberSettings
from gateway.errors.refusals import DeliveryNotDead, Unknown
from gateway.model.clients import Client
from gateway.model.events import DeliveryState, EventRow
from gateway.store import DeliveryRow
from gateway.store.base import EventFeed


class Feed:
    def __init__(self, store: EventFeed, subscribers: Sequence[SubscriberSettings]) -> None:
        self._store = store
        self._subscribers = subscribers

    async def events(self, client: Client, *, after: int, limit: int) -> Sequence[EventRow]:
        """The tenant's events written after the cursor `after`, oldest first."""
        return await self._store.events_after(client.id, after=after, limit=limit)

    async def deliveries(
        self,
        client: Client,
        *,
        subscriber: str | None,
        state: DeliveryState | None,
        after: int,
        limit: int,
    ) -> Sequence[DeliveryRow]:
        """The deliveries to the tenant's subscribers (`subscriber`: to that one alone)."""
        mine = self._mine(client)
        if subscriber is not None:
            mine = [s for s in mine if s == subscriber]
        return await self._store.list_deliveries(mine, state=state, after=after, limit=limit)

    async def count_deliveries(self, client: Client, *, state: DeliveryState, at_most: int) -> int:
        """How many deliveries to the tenant's subscribers are in `state` (up to `at_most`)."""
        return await self._store.count_deliveries(self._mine(client), state=state, at_most=at_most)

    async def order_activity(
        self, client: Client, order_id: str, *, limit: int
    ) -> list[tuple[EventRow, list[DeliveryRow]]]:
        """The newest `limit` events of one of the tenant's orders and of its returns, oldest
        first, each with its deliveries to the tenant's subscribers — read by subject, so an
        order's events show however many others the tenant's feed holds."""
        events = await self._store.events_about(client.id, order_id, limit=limit)
        by_event: dict[int, list[DeliveryRow]] = {e.seq: [] for e in events}
        for d in await self._store.deliveries_of(self._mine(client), list(by_event)):
            by_event[d.event.seq].append(d)
        return [(e, by_event[e.seq]) for e in events]

    async def retry(self, client: Client, subscriber: str, event_id: str, *, now: float) -> None:
        """Send a dead delivery again (due `now`)."""
        if subscriber not in self._mine(client):
            raise Unknown(f"subscriber {subscriber} is not yours", noun="subscriber")
        state = await self._store.retry_delivery(subscriber, event_id, now=now)
        if state is None:
            raise Unknown(
                f"subscriber {subscriber} has no delivery of event {event_id}", noun="delivery"
            )
        if state is not DeliveryState.DEAD:
            raise DeliveryNotDead(
                f"the delivery of event {event_id} to subscriber {subscriber} is {state}",
                state=state.value,
            )

    def _mine(self, client: Client) -> list[str]:
        return [s.id for s in self._subscribers if s.client == client.id]
