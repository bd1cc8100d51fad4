"""Orders as the API and the workers read them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.model.ids import ulid_floor
from gateway.model.orders import Phase
from gateway.store.dialect import Queries, Runner, sql_list
from gateway.store.holds import LATE
from gateway.store.records import HistoryEntry, OrderFilter, OrderRow
from gateway.store.rows import ORDER_COLUMNS, Table, history_of, order_row


class OrderReads(Queries, Protocol):
    """Orders as the API and the workers read them."""

    _orders: Table[OrderRow]
    _order_history: Table[HistoryEntry]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._orders = Table(db, "orders", ORDER_COLUMNS, order_row)
        self._order_history = history_of(db, "order_history", HistoryEntry)

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        """One order; with `client_id`, only if that tenant owns it."""
        if client_id is None:
            return await self._orders.one("id = ?", (order_id,))
        return await self._orders.one("id = ? AND client_id = ?", (order_id, client_id))

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None:
        """The live order of (client, external_id): never one superseded by a correction."""
        return await self._orders.one(
            "client_id = ? AND external_id = ? AND superseded_by IS NULL",
            (client_id, external_id),
            latest=True,
        )

    async def find_by_provider_id(self, provider: str, provider_order_id: str) -> OrderRow | None:
        return await self._orders.one(
            "provider = ? AND provider_order_id = ?", (provider, provider_order_id)
        )

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]:
        given, fixed = self._order_filter(flt)
        return await self._orders.page(client_id, given, limit=flt.limit, fixed=fixed)

    async def count_orders(self, client_id: str, flt: OrderFilter, *, at_most: int) -> int:
        """How many orders `list_orders` would find without `flt.limit`, up to `at_most`."""
        given, fixed = self._order_filter(flt)
        return await self._orders.count(client_id, given, at_most=at_most, fixed=fixed)

    def _order_filter(self, flt: OrderFilter) -> tuple[list[tuple[str, Any]], list[str]]:
        """What `flt` asks, as (condition, value) pairs and conditions without a value."""
        at = self._d.to_db
        given = [
            ("external_id = ?", flt.external_id),
            ("status = ?", flt.status),
            ("provider = ?", flt.provider),
            ("updated_at >= ?", None if flt.updated_since is None else at(flt.updated_since)),
            ("created_at < ?", None if flt.created_before is None else at(flt.created_before)),
            ("id < ?", flt.before_id),
        ]
        fixed = [] if flt.late is None else [LATE if flt.late else f"NOT {LATE}"]
        if flt.phases is not None:  # the enum's own values: no room for anything else
            fixed.append(f"phase IN {sql_list(Phase(p).value for p in flt.phases)}")
        return given, fixed

    async def orders_created(
        self, client_id: str, *, since: datetime, until: datetime, limit: int
    ) -> Sequence[OrderRow]:
        # Ids are ULIDs of the creation time: the lowest id of `since`'s millisecond (less a
        # minute, for a clock read twice) bounds the index scan; created_at decides.
        """The tenant's orders created in [`since`, `until`), oldest first, at most `limit`
        (a routing replay's window)."""
        floor = "ord_" + ulid_floor(since.timestamp() - 60)
        given = [
            ("id >= ?", floor),
            ("created_at >= ?", self._d.to_db(since)),
            ("created_at < ?", self._d.to_db(until)),
        ]
        return await self._orders.page(client_id, given, limit=limit, oldest_first=True)

    async def history(self, order_id: str) -> Sequence[HistoryEntry]:
        return await self._order_history.all("order_id = ? ORDER BY seq", (order_id,))
