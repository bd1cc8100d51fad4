"""What the Logentic sandbox remembers: items, stock per warehouse, orders and their events.

Stock (`Quantity`, one per item and warehouse that has stock set): creating an order takes
what `supply` there is into `prepared` and counts the rest as `back_ordered`; cancelling gives
it back; IN_TRANSIT or COMPLETED ships it (`delivered`). An order for an item without a
record in its warehouse touches no stock (Logentic accepts back orders).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from gateway.sandbox.harness.records import check_status, utc_iso

ORDER_STATUSES = (
    "PENDING",
    "PICKED",
    "PACKED",
    "IN_TRANSIT",
    "COMPLETED",
    "CANCELLED",
    "ON_HOLD",
    "BACK_ORDERED",
    "EXCEPTION",
)
CREATED_TOPIC = "order-created"
STATUS_TOPICS = {
    "PICKED": "order-picked",
    "PACKED": "order-packed",
    "IN_TRANSIT": "order-in-transit",
    "COMPLETED": "order-completed",
    "CANCELLED": "order-cancelled",
}
"""Status an order moves to → the webhook topic announcing it (other statuses send none)."""
_SHIPPED = frozenset({"IN_TRANSIT", "COMPLETED"})
_ORDER_FIELDS = (
    "external_name",
    "order_type",
    "warehouse_id",
    "recipient",
    "place",
    "stored_items",
    "notes",
    "shopify_order_id",
)
"""The `POST /orders` fields an order keeps (the optional ones None when not given)."""
FIRST_ORDER_ID = 19000
FIRST_ITEM_ID = 28000
FIRST_QUANTITY_ID = 7000


def iso(ts: float) -> str:
    """ISO-8601 UTC as Laravel renders it: `2025-06-15T12:00:00.000000Z`."""
    return utc_iso(ts, "microseconds")


@dataclass
class LogenticItem:
    id: int
    name: str
    external_name: str | None  # the SKU
    width_in: float
    depth_in: float
    height_in: float
    weight: float
    shopify_variant_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the item as Logentic shows it: every field, as is


@dataclass
class LogenticOrder:
    """An order as stored; `stored_items` lines are `{"item_id", "quantity"}` (+ variant)."""

    id: int
    external_name: str | None
    order_type: str
    status: str
    warehouse_id: int
    recipient: dict[str, Any]
    place: dict[str, Any]
    stored_items: list[dict[str, Any]]
    created_at: float
    updated_at: float
    notes: str | None = None
    shopify_order_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The order as `GET /orders/{id}` shows it (inside `{"data": …}`)."""
        return {
            "id": self.id,
            "external_name": self.external_name,
            "order_type": self.order_type,
            "status": self.status,
            "warehouse_id": self.warehouse_id,
            "recipient": dict(self.recipient),
            "place": dict(self.place),
            "stored_items": [dict(line) for line in self.stored_items],
            "notes": self.notes,
            "shopify_order_id": self.shopify_order_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Quantity:
    """The stock of one item in one warehouse (`supply`: units available to ship)."""

    id: int
    item_id: int
    warehouse_id: int
    created_at: float
    updated_at: float
    supply: float = 0
    receiving: float = 0
    prepared: float = 0
    back_ordered: float = 0
    delivered: float = 0

    def to_json(self, sku: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "sku": sku,
            "warehouse_id": self.warehouse_id,
            "supply": self.supply,
            "receiving": self.receiving,
            "prepared": self.prepared,
            "back_ordered": self.back_ordered,
            "delivered": self.delivered,
            "updated_at": iso(self.updated_at),
            "created_at": iso(self.created_at),
        }


@dataclass
class _Taken:
    """What one order line took from one stock record."""

    record: Quantity
    prepared: float
    back_ordered: float


OrderEvent = Callable[[str, "LogenticOrder"], None]


class LogenticState:
    """Items, stock and orders, with the clock; `on_event(topic, order)` hears every event.

    `per_page`: the page size of lists when the request gives none.
    """

    def __init__(
        self,
        *,
        token: str,
        warehouses: dict[int, str],
        per_page: int,
        clock: Callable[[], float],
    ) -> None:
        self.token = token
        self.warehouses = dict(warehouses)
        self.per_page = per_page
        self.clock = clock
        self.orders: dict[int, LogenticOrder] = {}
        self.items: dict[int, LogenticItem] = {}
        self.quantities: dict[tuple[int, int], Quantity] = {}
        self.on_event: OrderEvent = lambda _topic, _order: None
        self._taken: dict[int, list[_Taken]] = {}
        self._next_order = FIRST_ORDER_ID
        self._next_item = FIRST_ITEM_ID
        self._next_quantity = FIRST_QUANTITY_ID

    def token_ok(self, token: str) -> bool:
        return secrets.compare_digest(token.encode(), self.token.encode())

    # items and stock -------------------------------------------------------------------
    def add_item(self, fields: dict[str, Any]) -> LogenticItem:
        """A new item from validated `POST /items` fields."""
        variant = fields.get("shopify_variant_id")
        item = LogenticItem(
            id=self._next_item,
            name=fields["name"],
            external_name=fields.get("external_name"),
            width_in=fields["width_in"],
            depth_in=fields["depth_in"],
            height_in=fields["height_in"],
            weight=fields["weight"],
            shopify_variant_id=None if variant is None else str(variant),
        )
        self._next_item += 1
        self.items[item.id] = item
        return item

    def item(self, sku_or_item_id: str | int) -> LogenticItem:
        """The item of an id, or of a SKU (`external_name`); `KeyError` if none or ambiguous."""
        if isinstance(sku_or_item_id, int):
            return self.items[sku_or_item_id]
        found = [i for i in self.items.values() if i.external_name == sku_or_item_id]
        if len(found) != 1:
            raise KeyError(f"{len(found)} items have the SKU {sku_or_item_id!r}")
        return found[0]

    def item_by_variant(self, variant: str) -> LogenticItem | None:
        return next((i for i in self.items.values() if i.shopify_variant_id == variant), None)

    def set_stock(self, item_id: int, warehouse_id: int, units: float) -> Quantity:
        if item_id not in self.items:
            raise KeyError(f"no item {item_id}")
        if warehouse_id not in self.warehouses:
            raise ValueError(f"unknown warehouse_id {warehouse_id}; one of {list(self.warehouses)}")
        if units < 0:
            raise ValueError("units must be >= 0")
        now = self.clock()
        record = self.quantities.get((item_id, warehouse_id))
        if record is None:
            record = Quantity(self._next_quantity, item_id, warehouse_id, now, now)
            self._next_quantity += 1
            self.quantities[(item_id, warehouse_id)] = record
        record.supply = units
        record.updated_at = now
        return record

    # orders ----------------------------------------------------------------------------
    def create_order(self, fields: dict[str, Any]) -> LogenticOrder:
        """A new PENDING order from validated `POST /orders` fields; announces it."""
        now = self.clock()
        given: dict[str, Any] = {name: fields.get(name) for name in _ORDER_FIELDS}
        order = LogenticOrder(
            id=self._next_order, status="PENDING", created_at=now, updated_at=now, **given
        )
        self._next_order += 1
        self.orders[order.id] = order
        self._take_stock(order)
        self.on_event(CREATED_TOPIC, order)
        return order

    def update_order(self, order: LogenticOrder, changes: dict[str, Any]) -> None:
        """Apply validated `PUT /orders/{id}` changes (a `status` change last)."""
        status = changes.pop("status", None)
        restock = "stored_items" in changes or "warehouse_id" in changes
        if restock:
            self._give_back(order)
        for name in ("recipient", "place"):
            if name in changes:
                merged = {**getattr(order, name), **changes.pop(name)}
                setattr(order, name, {k: v for k, v in merged.items() if v is not None})
        for name, value in changes.items():
            setattr(order, name, value)
        if restock:
            self._take_stock(order)
        order.updated_at = self.clock()
        if status is not None and status != order.status:
            self.set_status(order, status)

    def set_status(self, order: LogenticOrder, status: str) -> None:
        """Move an order to any status; announce it when a topic exists for it."""
        check_status(status, ORDER_STATUSES, "order")
        order.status = status
        order.updated_at = self.clock()
        if status == "CANCELLED":
            self._give_back(order)
        elif status in _SHIPPED:
            self._ship(order)
        topic = STATUS_TOPICS.get(status)
        if topic is not None:
            self.on_event(topic, order)

    def _take_stock(self, order: LogenticOrder) -> None:
        taken: list[_Taken] = []
        for line in order.stored_items:
            record = self.quantities.get((line["item_id"], order.warehouse_id))
            if record is None:
                continue
            units = line["quantity"]
            prepared = min(record.supply, units)
            record.supply -= prepared
            record.prepared += prepared
            record.back_ordered += units - prepared
            record.updated_at = self.clock()
            taken.append(_Taken(record, prepared, units - prepared))
        self._taken[order.id] = taken

    def _give_back(self, order: LogenticOrder) -> None:
        for t in self._taken.pop(order.id, []):
            t.record.supply += t.prepared
            t.record.prepared -= t.prepared
            t.record.back_ordered -= t.back_ordered
            t.record.updated_at = self.clock()

    def _ship(self, order: LogenticOrder) -> None:
        for t in self._taken.pop(order.id, []):
            t.record.prepared -= t.prepared
            t.record.back_ordered -= t.back_ordered
            t.record.delivered += t.prepared + t.back_ordered
            t.record.updated_at = self.clock()

    def quantity_json(self, record: Quantity) -> dict[str, Any]:
        item = self.items.get(record.item_id)
        return record.to_json(item.external_name if item is not None else None)
