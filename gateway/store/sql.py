"""`SqlStore`: the `Store` both backends are, its queries written once over a `Runner` (which
brings the `Dialect`). Each method is one transaction, so "each step is committed before the
next provider call" holds by construction.

The methods are those of the parts, one class per concern, inherited as they are (not
wrapped), so each is written once; `base.Store` says what each does. The parts share only
the runner (`_db`) and its dialect (`_d`); what else each keeps has a name of its own.
(SQLite or PostgreSQL: `sqlite.open_sqlite`, `postgres.open_postgres`, or `open_store` by URL.)
"""

from __future__ import annotations

from gateway.store.deliveries import SqlDeliveries
from gateway.store.dialect import Runner
from gateway.store.exchanges import SqlExchanges
from gateway.store.holds import SqlHolds
from gateway.store.idempotency import SqlIdempotency
from gateway.store.inbound import SqlInbound
from gateway.store.order_changes import SqlOrderChanges
from gateway.store.orders import SqlOrders
from gateway.store.outbox import SqlOutbox
from gateway.store.parts import SqlParts
from gateway.store.return_parts import SqlReturnParts
from gateway.store.returns import SqlReturns


class SqlStore(
    SqlIdempotency,
    SqlOrders,
    SqlOrderChanges,
    SqlOutbox,
    SqlDeliveries,
    SqlInbound,
    SqlHolds,
    SqlReturns,
    SqlReturnParts,
    SqlParts,
    SqlExchanges,
):
    def __init__(self, db: Runner) -> None:
        super().__init__(db)  # every part's, along the MRO
        self.close = db.close

    async def ping(self) -> None:
        await self._db.reads.fetch_one("SELECT 1")
