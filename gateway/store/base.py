"""The `Store` protocol and the rows it deals in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

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


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    source: str
    at: datetime
    detail: str | None = None


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
        self, order_id: str, status: Status, *, source: str, detail: str | None = None
    ) -> bool:
        """Move an order to `status` if that moves it forward (`moves_forward`); record it."""
        ...

    # inbound webhooks ----------------------------------------------------------
    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        """Store an event once; False when (provider, event_id) was stored before."""
        ...

    async def unapplied_events(self, *, limit: int) -> Sequence[StoredEvent]: ...

    async def finish_event(
        self, provider: str, event_id: str, *, now: float, error: str | None = None
    ) -> None:
        """Mark an event applied, or count a failed attempt with its error."""
        ...

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        """Per provider: orders whose submission is open, and the age of the oldest.

        Providers without open orders are absent. Read by `/metrics` and `/v1/providers`.
        """
        ...


class LeaseLost(Exception):
    """Another worker took the order over: stop touching it."""
