"""The `Store` protocol and the rows it deals in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from gateway.model.events import EventRow, NewEvent
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.model.returns import Decision, ReturnPhase, ReturnStatus


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation."""


class OrderExists(Exception):
    """(client, external_id) is taken; `order_id` names the order that holds it."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id


class ReturnExists(Exception):
    """(client, external_id) of a return is taken; `return_id` names the return holding it."""

    def __init__(self, return_id: str) -> None:
        super().__init__(return_id)
        self.return_id = return_id


@dataclass(frozen=True, slots=True)
class NewOrder:
    id: str
    client_id: str
    external_id: str
    provider: str
    warehouse: str
    route_rule: str
    route_candidate: int
    body: str
    """The canonical order as JSON text."""
    status: Status = Status.ACCEPTED
    phase: Phase = Phase.PENDING
    attempts: int = 0
    """1 when the order is stored already `creating` (its first create about to be sent)."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: str
    client_id: str
    external_id: str
    provider: str
    warehouse: str
    route_rule: str
    route_candidate: int
    provider_order_id: str | None
    status: Status
    phase: Phase
    body: str
    attempts: int
    next_attempt_at: float
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    provider_status: str | None = None
    """The provider's own status, as it last said it."""
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()
    synced_at: float | None = None
    """When the provider's state was last read (poll, refresh) or heard (webhook)."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    source: str
    at: datetime
    detail: str | None = None
    outcome: Outcome = Outcome.APPLIED
    """`ignored`: news that would have moved the order backwards, kept for the record only."""


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """What the provider said besides the canonical status; None keeps what is stored."""

    raw_status: str | None = None
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()
    """Added to the ids already known."""

    def columns(self) -> list[tuple[str, str]]:
        """(order column, value) of the scalar facts given (None keeps what is stored)."""
        found = (
            ("provider_status", self.raw_status),
            ("tracking_code", self.tracking_code),
            ("tracking_url", self.tracking_url),
        )
        return [(column, value) for column, value in found if value is not None]


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    """Every attempt failed: kept, shown by `GET /v1/deliveries`, retried only on request."""


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One event on its way to one subscriber."""

    subscriber: str
    event: EventRow
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class OrderFilter:
    external_id: str | None = None
    status: Status | None = None
    provider: str | None = None
    updated_since: datetime | None = None
    before_id: str | None = None
    """Keyset cursor: only ids lower than this (lists run newest first)."""
    limit: int = 50


@dataclass(frozen=True, slots=True)
class NewReturn:
    id: str
    client_id: str
    order_id: str
    external_id: str | None
    provider: str
    provider_order_id: str
    type: str
    body: str
    """The canonical return as JSON text."""


@dataclass(frozen=True, slots=True)
class ReturnRow:
    id: str
    client_id: str
    order_id: str
    external_id: str | None
    provider: str
    provider_order_id: str
    provider_return_id: str | None
    type: str
    status: ReturnStatus
    provider_status: str | None
    decision: Decision | None
    phase: ReturnPhase
    body: str
    attempts: int
    next_attempt_at: float
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReturnHistoryEntry:
    status: ReturnStatus
    source: str
    at: datetime
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnFilter:
    order_id: str | None = None
    status: ReturnStatus | None = None
    before_id: str | None = None
    """Keyset cursor: only ids lower than this (lists run newest first)."""
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ReturnStep:
    """One committed change of a return (see `Store.advance_return`/`update_return`)."""

    phase: ReturnPhase | None = None
    status: ReturnStatus | None = None
    """A new canonical status (recorded in history when it changes), or None to keep it."""
    provider_status: str | None = None
    provider_return_id: str | None = None
    decision: Decision | None = None
    last_error: dict[str, Any] | None = None
    clear_error: bool = False
    next_attempt_at: float | None = None
    count_attempt: bool = False
    release: bool = False
    checked_at: float | None = None
    """When the provider was last asked about it (polling order)."""
    touch: bool = True
    """Bump `updated_at`; False when nothing callers see has changed (a poll that found the
    same state)."""
    source: str = "submitter"
    detail: str | None = None


class BeginOutcome(StrEnum):
    NEW = "new"
    """No record: this request owns the key now."""
    REPLAY = "replay"
    """Finished before with the same body: answer the stored response."""
    MISMATCH = "mismatch"
    """The key was used with a different body."""
    IN_FLIGHT = "in_flight"
    """The first request with this key is still running."""
    RESUME = "resume"
    """The first request died after storing its order: answer from that order."""


@dataclass(frozen=True, slots=True)
class Begin:
    outcome: BeginOutcome
    order_id: str | None = None
    status: int | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One committed step of a submission (see `Store.advance`)."""

    phase: Phase
    status: Status | None = None
    """A new canonical status (recorded in history), or None to keep it."""
    provider_order_id: str | None = None
    last_error: dict[str, Any] | None = None
    next_attempt_at: float | None = None
    count_attempt: bool = False
    release: bool = False
    """Give up the lease (the worker is done with the order for now)."""
    source: str = "submitter"
    detail: str | None = None
    facts: ProviderFacts | None = None
    """What the provider's answer said besides the status (a confirm's tracking code)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An inbound webhook event as stored (see `Store.record_event`)."""

    provider: str
    event_id: str
    topic: str
    provider_order_id: str | None
    status: Status | None
    raw_status: str | None
    attempts: int
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    """Orders in an open submission phase (pending … confirming)."""
    oldest_age_s: float
    """Seconds since the oldest of them was accepted."""


class ReturnStore(Protocol):
    """The returns half of `Store` (DESIGN §3 returns). The idempotency records of `Store` are
    shared: a key's `order_id` then holds the `ret_…` id of the return it created."""

    async def insert_return(
        self,
        ret: NewReturn,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> ReturnRow:
        """Store a new return (status accepted, phase pending) and its first history entry;
        raises `ReturnExists` when (client, external_id) is taken."""
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


class Store(ReturnStore, Protocol):
    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    # idempotency ---------------------------------------------------------------
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

    async def abandon_idempotent(self, client_id: str, key: str) -> None: ...

    async def purge_idempotency(self, *, now: float) -> int: ...

    # orders --------------------------------------------------------------------
    async def insert_order(
        self,
        order: NewOrder,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> OrderRow:
        """Store a new order and its first history entry; raises `OrderExists`."""
        ...

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        """One order; with `client_id`, only if that tenant owns it."""
        ...

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None: ...

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]: ...

    async def history(self, order_id: str) -> Sequence[HistoryEntry]: ...

    # submission ----------------------------------------------------------------
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

    async def find_by_provider_id(
        self, provider: str, provider_order_id: str
    ) -> OrderRow | None: ...

    async def apply_status(
        self,
        order_id: str,
        status: Status,
        *,
        source: str,
        detail: str | None = None,
        facts: ProviderFacts | None = None,
        now: float,
    ) -> Outcome:
        """Put news about an order through the state machine (`gateway.model.lifecycle`).

        Applied: the status changes, history and an event record it, all in one transaction.
        Ignored (a regression): history records it as ignored; nothing else changes.
        Either way `facts` (raw status, tracking) are kept and `synced_at` is set to `now`.
        """
        ...

    async def cancel_queued(self, order_id: str, *, now: float) -> OrderRow | None:
        """Cancel an order no provider call was made for (phase `pending`, not leased).

        The order ends `cancelled` (phase `cancelled`), with its history entry and event;
        None when the order is not in that state any more (the submitter took it).
        """
        ...

    async def replace_body(
        self, order_id: str, body: str, *, queued_only: bool, now: float
    ) -> OrderRow | None:
        """Store a changed canonical order; with `queued_only`, only while it is `pending`
        and not leased (None otherwise)."""
        ...

    async def claim_for_poll(
        self, provider: str, *, now: float, older_than: float, limit: int
    ) -> Sequence[OrderRow]:
        """Submitted, not final orders of `provider` not synced since `older_than`, oldest
        first; their `synced_at` is set to `now` so that no other replica polls them too."""
        ...

    # events out ----------------------------------------------------------------
    async def append_event(self, event: NewEvent, *, now: float) -> EventRow:
        """Append to a tenant's feed in a transaction of its own (changes made by other store
        methods append theirs inside their own transaction)."""
        ...

    async def events_after(
        self, client_id: str, *, after: int, limit: int
    ) -> Sequence[EventRow]: ...

    async def fan_out(
        self, subscriber: str, client_id: str, patterns: Sequence[str], *, now: float, limit: int
    ) -> int:
        """Make delivery rows for the subscriber's new events matching `patterns`; how many."""
        ...

    async def claim_deliveries(
        self, subscriber: str, *, now: float, lease_until: float, limit: int
    ) -> Sequence[DeliveryRow]:
        """Due deliveries that are the oldest pending one of their subject, leased."""
        ...

    async def finish_delivery(
        self,
        subscriber: str,
        seq: int,
        *,
        now: float,
        ok: bool,
        status: int | None,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record an attempt: delivered (`ok`), retried at `retry_at`, or dead (neither)."""
        ...

    async def list_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState | None, after: int, limit: int
    ) -> Sequence[DeliveryRow]: ...

    async def retry_delivery(self, subscriber: str, event_id: str, *, now: float) -> bool:
        """Make a dead delivery pending again (due now); False if it is not dead."""
        ...

    async def purge_events(self, subscribers: Sequence[str], *, before: float) -> int:
        """Delete events written before `before` that no subscriber still needs (past every
        cursor of `subscribers`, no pending or dead delivery); how many."""
        ...

    # inbound webhooks ----------------------------------------------------------
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

    async def purge_webhook_events(
        self, *, before: float, max_attempts: int, batch: int = 1000
    ) -> int:
        """Delete events received before `before` that are finished: applied, or given up
        after `max_attempts` failed attempts; how many. One still waiting to be applied stays
        whatever its age. At most `batch` rows go per transaction, so a large backlog never
        holds the writer long."""
        ...

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        """Per provider: orders whose submission is open, and the age of the oldest.

        Providers without open orders are absent. Read by `/metrics` and `/v1/providers`.
        """
        ...


class LeaseLost(Exception):
    """Another worker took the order over: stop touching it."""
