"""`SqlStore`: the `Store` both backends are, its queries written once over a `Runner` (which
brings the `Dialect`). Each method is one transaction, so "each step is committed before the
next provider call" holds by construction.

The methods are those of the parts, one class per concern, bound here as they are (not
wrapped), so each is written once; `base.Store` says what each does. (SQLite or
PostgreSQL: `sqlite.open_sqlite`, `postgres.open_postgres`, or `open_store` by URL.)
"""

from __future__ import annotations

from gateway.store.deliveries import SqlDeliveries
from gateway.store.dialect import Runner
from gateway.store.holds import SqlHolds
from gateway.store.idempotency import SqlIdempotency
from gateway.store.inbound import SqlInbound
from gateway.store.order_changes import SqlOrderChanges
from gateway.store.orders import SqlOrders
from gateway.store.outbox import SqlOutbox
from gateway.store.returns import SqlReturns


class SqlStore:
    def __init__(self, db: Runner) -> None:  # noqa: PLR0915 (a binding per method of `Store`)
        self._db = db
        self.close = db.close

        keys = SqlIdempotency(db)
        self.begin_idempotent = keys.begin_idempotent
        self.finish_idempotent = keys.finish_idempotent
        self.abandon_idempotent = keys.abandon_idempotent
        self.purge_idempotency = keys.purge_idempotency

        orders = SqlOrders(db)
        self.insert_order = orders.insert_order
        self.get_order = orders.get_order
        self.find_by_external_id = orders.find_by_external_id
        self.list_orders = orders.list_orders
        self.history = orders.history
        self.find_by_provider_id = orders.find_by_provider_id
        self.queue_stats = orders.queue_stats
        self.claim_due = orders.claim_due
        self.claim = orders.claim
        self.renew = orders.renew
        self.release = orders.release
        self.advance = orders.advance

        changes = SqlOrderChanges(db)
        self.apply_status = changes.apply_status
        self.request_cancel = changes.request_cancel
        self.cancel_queued = changes.cancel_queued
        self.replace_body = changes.replace_body
        self.claim_for_poll = changes.claim_for_poll

        outbox = SqlOutbox(db)
        self.append_event = outbox.append_event
        self.events_after = outbox.events_after

        deliveries = SqlDeliveries(db)
        self.fan_out = deliveries.fan_out
        self.claim_deliveries = deliveries.claim_deliveries
        self.finish_delivery = deliveries.finish_delivery
        self.list_deliveries = deliveries.list_deliveries
        self.retry_delivery = deliveries.retry_delivery
        self.purge_events = deliveries.purge_events

        inbound = SqlInbound(db)
        self.record_event = inbound.record_event
        self.unapplied_events = inbound.unapplied_events
        self.finish_event = inbound.finish_event
        self.purge_webhook_events = inbound.purge_webhook_events

        holds = SqlHolds(db)
        self.hold_order = holds.hold_order
        self.release_hold = holds.release_hold
        self.due_holds = holds.due_holds
        self.mark_late = holds.mark_late
        self.late_counts = holds.late_counts

        returns = SqlReturns(db)
        self.insert_return = returns.insert_return
        self.get_return = returns.get_return
        self.find_return_by_external_id = returns.find_return_by_external_id
        self.list_returns = returns.list_returns
        self.return_history = returns.return_history
        self.claim_due_returns = returns.claim_due_returns
        self.advance_return = returns.advance_return
        self.renew_return = returns.renew_return
        self.release_return = returns.release_return
        self.update_return = returns.update_return
        self.open_returns = returns.open_returns

    async def ping(self) -> None:
        await self._db.reads.fetch_one("SELECT 1")
