"""What the store offers, as narrow protocols per consumer — a component takes only the part
it uses — and `Store`, their union (the contract both backends pass, `tests/unit/test_store*`).
Its rows are in `records`, its exceptions in `gateway.errors`. Most protocols are written once,
with their SQL (`dialect.Queries`): `OrderReads` in `order_reads`, `Holds` in `holds`, …; this
module keeps the ones whose implementation lives elsewhere, and the unions.

Every method is one transaction, so "each step is committed before the next provider call"
holds by construction.
"""

from __future__ import annotations

from typing import Protocol

from gateway.store.deliveries import DeliveryReads, Dispatch, EventRetention
from gateway.store.exchanges import Exchanges
from gateway.store.holds import Holds
from gateway.store.idempotency import IdempotencyRecords, IdempotencyRetention
from gateway.store.inbound import WebhookIntake, WebhookRetention
from gateway.store.order_changes import OrderChanges
from gateway.store.orders import Health, OrderIntake, Polling, Submissions
from gateway.store.outbox import Outbox
from gateway.store.parts import PartStore
from gateway.store.return_parts import ReturnPartStore
from gateway.store.returns import Returns


class EventFeed(Outbox, DeliveryReads, Protocol):
    """The tenants' event feeds and their deliveries as the API shows them."""


class Retention(EventRetention, WebhookRetention, IdempotencyRetention, Protocol):
    """What the maintenance sweep deletes."""


class ReturnStore(Returns, Protocol):
    """The returns half of `Store`. The idempotency records of `Store` are shared: a key's
    `order_id` then holds the `ret_…` id of the return it created."""


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
