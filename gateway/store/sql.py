"""`SqlStore`: the `Store` both backends are, its queries written once over a `Runner` (which
brings the `Dialect`). Each method is one transaction, so "each step is committed before the
next provider call" holds by construction.

The methods are those of the parts, one class per concern, inherited as they are (not
wrapped), so each is written once; a part is also the protocol its consumers take (`base.Store`
is their union). The parts share only the runner (`_db`) and its dialect (`_d`); what else
each keeps has a name of its own.
(SQLite or PostgreSQL: `sqlite.open_sqlite`, `postgres.open_postgres`, or `open_store` by URL.)
"""

from __future__ import annotations

from gateway.store.deliveries import DeliveryReads, Dispatch, EventRetention
from gateway.store.dialect import Runner
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


class SqlStore(
    IdempotencyRecords,
    IdempotencyRetention,
    OrderIntake,
    Submissions,
    Polling,
    Health,
    OrderChanges,
    Outbox,
    Dispatch,
    DeliveryReads,
    EventRetention,
    WebhookIntake,
    WebhookRetention,
    Holds,
    Returns,
    ReturnPartStore,
    PartStore,
    Exchanges,
):
    def __init__(self, db: Runner) -> None:
        super().__init__(db)  # every part's, along the MRO
        self.close = db.close
