"""What the store offers, as narrow protocols per consumer — a component takes only the part
it uses — and `Store`, their union (the contract both backends pass, `tests/unit/test_store*`).
Its rows are in `records`, its exceptions in `gateway.errors`. Most protocols are written once,
with their SQL (`dialect.Queries`): `OrderReads` in `order_reads`, `Holds` in `holds`, …; this
module keeps the ones whose implementation lives elsewhere, and the unions.

Every method is one transaction, so "each step is committed before the next provider call"
holds by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.store.deliveries import DeliveryReads, Dispatch, EventRetention
from gateway.store.exchanges import Exchanges
from gateway.store.holds import Holds
from gateway.store.inbound import WebhookIntake, WebhookRetention
from gateway.store.order_changes import OrderChanges
from gateway.store.order_reads import OrderReads
from gateway.store.orders import Health, Polling, Submissions
from gateway.store.outbox import Outbox
from gateway.store.parts import PartStore
from gateway.store.records import (
    Begin,
    KeyClaim,
    NewOrder,
    NewPart,
    NewReturn,
    NewReturnPart,
    OrderRow,
    ReturnRow,
)
from gateway.store.return_parts import ReturnPartStore
from gateway.store.returns import Returns


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
        defer: bool = False,
    ) -> Begin:
        """`defer`: a key nobody holds is not taken here but handed back as `Begin.claim`, for
        the transaction that stores the order (or return) to take (`KeyTaken` if it lost)."""
        ...

    async def finish_idempotent(
        self,
        client_id: str,
        key: str,
        *,
        status: int,
        body: bytes,
        claim: KeyClaim | None = None,
    ) -> None:
        """The key's answer. `claim`: a deferred claim nothing took (the submit ended before
        storing anything): the key is taken done at once, or `KeyTaken`."""
        ...

    async def abandon_idempotent(
        self, client_id: str, key: str, claim: KeyClaim | None = None
    ) -> None:
        """The request holding a running key failed. A key that leads to nothing is freed;
        one linked to the order (or return) it stored stays, unlocked, so that the next
        request with it gets `RESUME` for that order at once. `claim`: the request's deferred
        claim, taken or not: only a key this claim took is unlocked."""
        ...


class OrderIntake(OrderReads, Protocol):
    """What accepting an order needs: storing it, and finding the order a key names."""

    async def insert_order(
        self,
        order: NewOrder,
        *,
        now: float,
        idempotency: tuple[str, str] | KeyClaim | None,
        lease_owner: str | None,
        lease_until: float | None,
        parts: Sequence[NewPart] = (),
    ) -> OrderRow:
        """Store a new order and its first history entry (and, for a split order, its
        `parts`, each `pending` under the lease, the order itself then without one); raises
        `OrderExists` naming the live order holding (client, external_id). With
        `order.supersedes`, that rejected order is linked to this one (`superseded_by`) in
        the same transaction, and gives the key up — only while it is rejected and not
        superseded yet (else `OrderExists`: a racing correction won). `idempotency`: the
        key (client, key) this request holds, linked to the order; or its deferred claim,
        taken in the same transaction (`KeyTaken`, nothing stored, if another took it)."""
        ...


class EventFeed(Outbox, DeliveryReads, Protocol):
    """The tenants' event feeds and their deliveries as the API shows them."""


class Retention(EventRetention, WebhookRetention, Protocol):
    """What the maintenance sweep deletes."""

    async def purge_idempotency(self, *, now: float) -> int: ...


class ReturnStore(Returns, Protocol):
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
