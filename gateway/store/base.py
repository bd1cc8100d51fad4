"""What the store offers, as narrow protocols per consumer — a component takes only the part
it uses — and `Store`, their union (the contract both backends pass, `tests/unit/test_store*`).
Its rows are in `records`, its exceptions in `gateway.errors`; `Holds`, `Dispatch` and `Exchanges`
live beside their SQL (`holds`, `deliveries`, `exchanges`).

Every method is one transaction, so "each step is committed before the next provider call"
holds by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from gateway.model.events import DeliveryState, EventRow, NewEvent
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Status
from gateway.store.deliveries import Dispatch
from gateway.store.exchanges import Exchanges
from gateway.store.holds import Holds
from gateway.store.parts import PartStore
from gateway.store.records import (
    Begin,
    DeliveryRow,
    HistoryEntry,
    NewOrder,
    NewPart,
    NewReturn,
    NewReturnPart,
    OrderFilter,
    OrderRow,
    ProviderFacts,
    QueueStats,
    ReturnFilter,
    ReturnHistoryEntry,
    ReturnRow,
    ReturnStep,
    StoredEvent,
    Transition,
)
from gateway.store.return_parts import ReturnPartStore


class Health(Protocol):
    """What `/readyz`, `/metrics` and `/v1/providers` read."""

    async def ping(self) -> None: ...

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        """Per provider: orders whose submission is open, and the age of the oldest.

        Providers without open orders are absent. Read by `/metrics` and `/v1/providers`.
        """
        ...


class IdempotencyRecords(Protocol):
    """Idempotency keys of requests that create something (an order, a return): a key's
    `order_id` holds the id of what it created."""

    async def begin_idempotent(
        self,
        client_id: str,
        key: str,
        fingerprint: str,
        *,
        now: float,
        lock_s: float,
        ttl_s: float,
    ) -> Begin: ...

    async def finish_idempotent(
        self, client_id: str, key: str, *, status: int, body: bytes
    ) -> None: ...

    async def abandon_idempotent(self, client_id: str, key: str) -> None:
        """The request holding a running key failed. A key that leads to nothing is freed;
        one linked to the order (or return) it stored stays, unlocked, so that the next
        request with it gets `RESUME` for that order at once."""
        ...


class OrderReads(Protocol):
    """Orders as the API and the workers read them."""

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        """One order; with `client_id`, only if that tenant owns it."""
        ...

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None:
        """The live order of (client, external_id): never one superseded by a correction."""
        ...

    async def find_by_provider_id(
        self, provider: str, provider_order_id: str
    ) -> OrderRow | None: ...

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]: ...

    async def count_orders(self, client_id: str, flt: OrderFilter, *, at_most: int) -> int:
        """How many orders `list_orders` would find without `flt.limit`, up to `at_most`."""
        ...

    async def orders_created(
        self, client_id: str, *, since: datetime, until: datetime, limit: int
    ) -> Sequence[OrderRow]:
        """The tenant's orders created in [`since`, `until`), oldest first, at most `limit`
        (a routing replay's window)."""
        ...

    async def history(self, order_id: str) -> Sequence[HistoryEntry]: ...


class OrderIntake(OrderReads, Protocol):
    """What accepting an order needs: storing it, and finding the order a key names."""

    async def insert_order(
        self,
        order: NewOrder,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
        parts: Sequence[NewPart] = (),
    ) -> OrderRow:
        """Store a new order and its first history entry (and, for a split order, its
        `parts`, each `pending` under the lease, the order itself then without one); raises
        `OrderExists` naming the live order holding (client, external_id). With
        `order.supersedes`, that rejected order is linked to this one (`superseded_by`) in
        the same transaction, and gives the key up — only while it is rejected and not
        superseded yet (else `OrderExists`: a racing correction won)."""
        ...


class Submissions(Protocol):
    """What the submitter needs: leases on due orders and the steps it commits."""

    async def claim_due(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[OrderRow]:
        """Lease up to `limit` open orders that are due and not leased by anyone alive."""
        ...

    async def claim(
        self, order_id: str, *, owner: str, now: float, lease_until: float
    ) -> OrderRow | None:
        """Lease one open order, or None if it is done or someone else holds it."""
        ...

    async def renew(self, order_id: str, *, owner: str, lease_until: float) -> bool:
        """Extend a lease this owner holds; False if it was lost."""
        ...

    async def release(self, order_id: str, *, owner: str) -> None:
        """Give up a lease without changing the order (shutdown)."""
        ...

    async def advance(self, order_id: str, *, owner: str, step: Transition) -> OrderRow:
        """Commit one submission step; raises `LeaseLost` if `owner` no longer holds it."""
        ...


class OrderChanges(Protocol):
    """News about an order (webhook, poll, the API) and a client's cancel or change."""

    async def apply_status(
        self,
        order_id: str,
        status: Status,
        *,
        source: str,
        actor: str,
        detail: str | None = None,
        facts: ProviderFacts | None = None,
        now: float,
    ) -> Outcome:
        """Put news about an order through the state machine (`gateway.model.lifecycle`).

        Applied: the status changes, history and an event record it, all in one transaction.
        Ignored (a regression): history records it as ignored; nothing else changes.
        Either way `facts` (raw status, tracking) are kept and `synced_at` is set to `now`.
        A cancellation reported while a client's cancel request is recent (`request_cancel`)
        is recorded as that client's (`gateway.model.history.credit_cancel`).
        """
        ...

    async def request_cancel(
        self, order_id: str, *, by: tuple[str, str] | None, now: float
    ) -> None:
        """Note that `by` (source, actor) asks the provider to cancel the order (None: withdraw
        it, the provider refused), before the call, so that whoever reports the cancellation
        first — the call's answer, a webhook, a poll — records it as the requester's."""
        ...

    async def cancel_queued(
        self, order_id: str, *, by: tuple[str, str], now: float
    ) -> OrderRow | None:
        """Cancel an order no provider call was made for (phase `pending`, not leased), as
        `by` (source, actor).

        The order ends `cancelled` (phase `cancelled`), with its history entry and event;
        None when the order is not in that state any more (the submitter took it).
        """
        ...

    async def replace_body(
        self,
        order_id: str,
        body: str,
        *,
        queued_only: bool,
        actor: str,
        changed: Sequence[str],
        detail: str | None = None,
        now: float,
    ) -> OrderRow | None:
        """Store a changed canonical order; with `queued_only`, only while it is `pending`
        and not leased (None otherwise). History records the change (status unchanged, the
        `changed` field names; `detail`, when given, instead of the one they make) and an
        `order.updated` event announces it, in the same transaction."""
        ...


class Polling(Protocol):
    """What the status poller needs besides `OrderChanges.apply_status`."""

    async def claim_for_poll(
        self, provider: str, *, now: float, older_than: float, limit: int
    ) -> Sequence[OrderRow]:
        """Submitted, not final orders of `provider` not synced since `older_than`, oldest
        first; their `synced_at` is set to `now` so that no other replica polls them too."""
        ...


class EventFeed(Protocol):
    """The tenants' event feeds and their deliveries as the API shows them."""

    async def append_event(self, event: NewEvent, *, now: float) -> EventRow:
        """Append to a tenant's feed in a transaction of its own (changes made by other store
        methods append theirs inside their own transaction)."""
        ...

    async def events_after(
        self, client_id: str, *, after: int, limit: int
    ) -> Sequence[EventRow]: ...

    async def events_about(
        self, client_id: str, order_id: str, *, limit: int
    ) -> Sequence[EventRow]:
        """The newest `limit` events of the tenant's order and of its returns, oldest first."""
        ...

    async def list_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState | None, after: int, limit: int
    ) -> Sequence[DeliveryRow]: ...

    async def deliveries_of(
        self, subscribers: Sequence[str], seqs: Sequence[int]
    ) -> Sequence[DeliveryRow]:
        """The deliveries to `subscribers` of the events numbered `seqs`, by event."""
        ...

    async def count_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState, at_most: int
    ) -> int:
        """How many deliveries to `subscribers` are in `state`, counting up to `at_most`."""
        ...

    async def retry_delivery(
        self, subscriber: str, event_id: str, *, now: float
    ) -> DeliveryState | None:
        """Make a dead delivery pending again (due now). The delivery's state before the call
        (DEAD: retried), or None when `subscriber` has no delivery of that event."""
        ...


class WebhookIntake(Protocol):
    """Inbound provider webhook events: stored once, applied later."""

    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        """Store an event once; False when (provider, event_id) was stored before."""
        ...

    async def unapplied_events(self, *, limit: int, max_attempts: int) -> Sequence[StoredEvent]:
        """The oldest `limit` events still to apply: not applied, fewer than `max_attempts`
        failed attempts (given-up ones must never crowd out newer ones)."""
        ...

    async def finish_event(
        self, provider: str, event_id: str, *, now: float, error: str | None = None
    ) -> None:
        """Mark an event applied, or count a failed attempt with its error."""
        ...


class Retention(Protocol):
    """What the maintenance sweep deletes."""

    async def purge_idempotency(self, *, now: float) -> int: ...

    async def purge_events(self, subscribers: Sequence[str], *, before: float) -> int:
        """Delete events written before `before` that no subscriber still needs (past every
        cursor of `subscribers`, no pending or dead delivery); how many."""
        ...

    async def purge_webhook_events(
        self, *, before: float, max_attempts: int, batch: int = 1000
    ) -> int:
        """Delete events received before `before` that are finished: applied, or given up
        after `max_attempts` failed attempts; how many. One still waiting to be applied stays
        whatever its age. At most `batch` rows go per transaction, so a large backlog never
        holds the writer long."""
        ...


class ReturnStore(Protocol):
    """The returns half of `Store`. The idempotency records of `Store` are
    shared: a key's `order_id` then holds the `ret_…` id of the return it created."""

    async def insert_return(
        self,
        ret: NewReturn,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
        parts: Sequence[NewReturnPart] = (),
    ) -> ReturnRow:
        """Store a new return (status accepted, phase pending) and its first history entry;
        raises `ReturnExists` when (client, external_id) is taken. `parts`: of a return
        spanning parts of a split order, one provider return each (`ReturnPartStore`),
        stored with it, pending and leased as it is; the return's phase is then `parts`, and
        each part is settled against what its provider order shipped less what the order's
        earlier returns take from it (`Overreach` too).

        In the same transaction, atomic against every other return of the order (on any
        replica), the return is settled against what the order's earlier returns take back
        (`gateway.model.returnable.take_back`): `Overreach` when it asks too much; a return
        without lines is stored with the remaining quantities once anything was taken back."""
        ...

    async def get_return(
        self, return_id: str, *, client_id: str | None = None
    ) -> ReturnRow | None: ...

    async def find_return_by_external_id(
        self, client_id: str, external_id: str
    ) -> ReturnRow | None: ...

    async def list_returns(self, client_id: str, flt: ReturnFilter) -> Sequence[ReturnRow]: ...

    async def return_history(self, return_id: str) -> Sequence[ReturnHistoryEntry]: ...

    async def claim_due_returns(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[ReturnRow]:
        """Lease up to `limit` returns in an open phase that are due and not leased."""
        ...

    async def advance_return(self, return_id: str, *, owner: str, step: ReturnStep) -> ReturnRow:
        """Commit one submission step of a leased return; `LeaseLost` if `owner` lost it."""
        ...

    async def renew_return(self, return_id: str, *, owner: str, lease_until: float) -> bool:
        """Extend a lease this owner holds; False if it was lost."""
        ...

    async def release_return(self, return_id: str, *, owner: str) -> None:
        """Give up a lease without changing the return (shutdown)."""
        ...

    async def update_return(self, return_id: str, step: ReturnStep) -> ReturnRow:
        """Record what the provider said of a submitted return (cancel, decision, poll)."""
        ...

    async def open_returns(self, *, limit: int, checked_before: float) -> Sequence[ReturnRow]:
        """Submitted returns not in a final status, not checked since `checked_before`, least
        recently checked first (polling)."""
        ...


class Store(
    Health,
    IdempotencyRecords,
    OrderIntake,
    Submissions,
    OrderChanges,
    Polling,
    EventFeed,
    Dispatch,
    WebhookIntake,
    Retention,
    ReturnStore,
    ReturnPartStore,
    PartStore,
    Holds,
    Exchanges,
    Protocol,
):
    async def close(self) -> None: ...
