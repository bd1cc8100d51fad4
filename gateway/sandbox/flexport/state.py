"""What the Flexport sandbox remembers: tokens, products, D2C orders, B2B outbounds, and the
responses stored under idempotency keys.

D2C lifecycle (`state.internalStatus`, `fulfillmentInProgress`): CREATED → PICKING (in
progress) → PACKED → SHIPPED (a shipment with a label) → DELIVERED; CANCELLED while not in
progress; ERROR. B2B lifecycle (`orderStatus`): PLANNED → BOOKED → IN_PROGRESS →
TENDERED → COMPLETED; CANCELLED from PLANNED/BOOKED; LOST_DAMAGED; ERROR (also at create, for a
duplicate externalId or an unresolvable product, as Flexport lists).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.sandbox.harness.records import check_status, utc_iso

from .return_record import RETURN_STATUSES, FlexportReturn

D2C_STEPS = ("CREATED", "PICKING", "PACKED", "SHIPPED", "DELIVERED")
D2C_STATUSES = (*D2C_STEPS, "CANCELLED", "ERROR", "STOPPED")
B2B_STEPS = ("PLANNED", "BOOKED", "IN_PROGRESS", "TENDERED", "COMPLETED")
B2B_STATUSES = (*B2B_STEPS, "CANCELLED", "LOST_DAMAGED", "ERROR")
B2B_CANCELLABLE = frozenset({"PLANNED", "BOOKED"})
D2C_EVENTS = {
    "CREATED": ("Order.Submitted",),
    "PICKING": ("Order.PickingStarted",),
    "PACKED": ("Order.Packed",),
    "SHIPPED": ("Order.Dispatched", "Order.Shipped", "Shipment.Shipped"),
    "DELIVERED": ("Order.Delivered", "Shipment.Delivered"),
    "CANCELLED": ("Order.Cancelled",),
    "ERROR": (),
    "STOPPED": (),
}
B2B_EVENTS = {
    "PLANNED": ("Order.Submitted",),
    "BOOKED": (),
    "IN_PROGRESS": ("Shipment.Submitted",),
    "TENDERED": ("Order.Shipped", "Shipment.Shipped"),
    "COMPLETED": ("Order.Delivered", "Shipment.Delivered"),
    "CANCELLED": ("Order.Cancelled", "Shipment.Cancelled"),
    "LOST_DAMAGED": (),
    "ERROR": (),
}
"""Status an order moves to → the webhook events announcing it."""
ACCOUNT_ID = 1042


def iso(ts: float | None) -> str | None:
    return None if ts is None else utc_iso(ts, "milliseconds")


@dataclass
class Product:
    logistics_sku: str
    merchant_sku: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {
            "logisticsSku": self.logistics_sku,
            "merchantSku": self.merchant_sku,
            "name": self.name,
            "barcodes": [],
            "dimsLocked": False,
        }


@dataclass
class Shipment:
    id: int
    status: str
    warehouse_id: str
    line_items: list[dict[str, Any]]
    tracking_code: str | None = None
    shipped_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        label = None
        if self.tracking_code:
            label = {
                "carrier": "UPS",
                "trackingCode": self.tracking_code,
                "trackingUrl": f"https://www.ups.com/track?tracknum={self.tracking_code}",
                "shippingMethod": "UPS.GROUND",
            }
        return {
            "id": self.id,
            "status": self.status,
            "warehouseId": self.warehouse_id,
            "lineItems": self.line_items,
            "shippedAt": iso(self.shipped_at),
            "packages": [{"id": self.id * 10, "label": label, "lineItems": self.line_items}]
            if label
            else [],
        }


@dataclass
class _Outbound:
    """What a D2C order and a B2B outbound both are: a body as received, a status, shipments."""

    id: int
    body: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    shipments: list[Shipment] = field(default_factory=list, kw_only=True)

    @property
    def order_id(self) -> str:
        return str(self.id)


@dataclass
class D2COrder(_Outbound):
    external_order_id: str
    shipped_at: float | None = None
    delivered_at: float | None = None
    error: dict[str, Any] | None = None

    kind = "d2c"

    def to_json(self) -> dict[str, Any]:
        """The Order as `GET /orders/{orderId}` shows it."""
        internal = {"PICKING": "CREATED", "PACKED": "CREATED", "STOPPED": "CREATED"}.get(
            self.status, self.status
        )
        fulfillment = {
            "SHIPPED": "SHIPPED",
            "DELIVERED": "DELIVERED",
            "STOPPED": "STOPPED",
        }.get(self.status, "ROUTING_IN_PROGRESS")
        return {
            "id": self.id,
            "externalOrderId": self.external_order_id,
            "address": self.body.get("address"),
            "lineItems": self.body.get("lineItems"),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "shippedAt": iso(self.shipped_at),
            "deliveredAt": iso(self.delivered_at),
            "promisedDeliveryByTime": self.body.get("promisedDeliveryByTime"),
            "source": self.body.get("source"),
            "state": {
                "internalStatus": internal,
                "fulfillmentStatus": fulfillment,
                "fulfillmentInProgress": self.status in ("PICKING", "PACKED"),
                "fulfillmentDelayed": False,
            },
            "error": self.error,
            "shipments": [s.to_json() for s in self.shipments],
        }


@dataclass
class B2BOrder(_Outbound):
    external_id: str | None
    error: str | None = None

    kind = "b2b"

    def to_json(self) -> dict[str, Any]:
        """The order as `GET /orders/rs/{orderId}` shows it (Flexport's response fields)."""
        return {
            "orderId": self.order_id,
            "externalId": self.external_id,
            "externalChannelId": None,
            "locationId": "RS-RNO1",
            "type": "B2B",
            "orderStatus": self.status,
            "orderItems": self.body.get("orderItems"),
            "shipments": [
                {
                    "shipmentId": s.id,
                    "status": s.status,
                    "trackingCode": s.tracking_code,
                    "trackingUrl": f"https://www.ups.com/track?tracknum={s.tracking_code}"
                    if s.tracking_code
                    else None,
                }
                for s in self.shipments
            ],
            "shipBy": self.body.get("shipBy"),
            "notes": self.body.get("notes"),
            "retailerData": None,
            "ingestionChannel": "API",
            "errorReason": self.error,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


Order = D2COrder | B2BOrder
OrderEvent = Callable[[str, Order, Shipment | None], None]


@dataclass
class Stored:
    """A response kept under an idempotency key (`status` None: the request still runs)."""

    fingerprint: str
    expires_at: float
    status: int | None = None
    body: bytes = b""
    content_type: str = "application/json"


class FlexportState:
    def __init__(
        self, *, tokens: dict[str, frozenset[str] | None], clock: Callable[[], float]
    ) -> None:
        self.tokens = dict(tokens)
        """token → its scopes (None: every scope)."""
        self.clock = clock
        self.locked = False
        self.products: dict[str, Product] = {}
        self.stock: dict[str, dict[str, int]] = {}
        """logisticsSku → warehouse code → units available (the DEFAULT pool)."""
        self.d2c: dict[int, D2COrder] = {}
        self.b2b: dict[int, B2BOrder] = {}
        self.keys: dict[tuple[str, str], Stored] = {}
        self.returns: dict[int, FlexportReturn] = {}
        self.returns_approved = False
        """Returns need account approval: 403 until approved."""
        self._return_ids = itertools.count(310_000)
        self.replayed: list[str] = []
        """Idempotency keys whose stored answer was replayed, in order."""
        self.on_event: OrderEvent = lambda _type, _order, _shipment: None
        self._d2c_ids = itertools.count(49_201_824_000)
        self._b2b_ids = itertools.count(7_300_000)
        self._shipment_ids = itertools.count(88_000)

    # products ----------------------------------------------------------------------
    def add_product(self, merchant_sku: str, logistics_sku: str, name: str) -> Product:
        if logistics_sku in self.products:
            raise ValueError(f"logisticsSku {logistics_sku!r} exists already")
        product = Product(logistics_sku, merchant_sku, name)
        self.products[logistics_sku] = product
        return product

    def by_merchant_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products.values() if p.merchant_sku == sku), None)

    def set_stock(self, logistics_sku: str, warehouse: str, units: int) -> None:
        """Units available of a product in a warehouse; `KeyError`: no such product."""
        if logistics_sku not in self.products:
            raise KeyError(logistics_sku)
        self.stock.setdefault(logistics_sku, {})[warehouse] = units

    # returns -----------------------------------------------------------------------
    def knows(self, item: dict[str, Any]) -> bool:
        """Whether a return item's identifier names a product of the account."""
        if item.get("type") == "LOGISTICS_SKU":
            return item.get("identifier") in self.products
        return self.by_merchant_sku(str(item.get("identifier"))) is not None

    def create_return(self, body: dict[str, Any]) -> FlexportReturn:
        now = self.clock()
        ret = FlexportReturn(next(self._return_ids), body, "CREATED", now, now)
        self.returns[ret.id] = ret
        return ret

    def set_return_status(self, ret: FlexportReturn, status: str) -> None:
        check_status(status, RETURN_STATUSES, "return")
        ret.status, ret.updated_at = status, self.clock()

    # orders ------------------------------------------------------------------------
    def create_d2c(self, body: dict[str, Any]) -> D2COrder:
        now = self.clock()
        order = D2COrder(next(self._d2c_ids), body, "CREATED", now, now, body["externalOrderId"])
        self.d2c[order.id] = order
        self._announce(order, "CREATED")
        return order

    def create_b2b(self, body: dict[str, Any]) -> B2BOrder:
        now = self.clock()
        external = body.get("externalId")
        order = B2BOrder(next(self._b2b_ids), body, "PLANNED", now, now, external)
        taken = external is not None and any(o.external_id == external for o in self.b2b.values())
        unresolved = [i for i, item in enumerate(body["orderItems"]) if not self._resolves(item)]
        self.b2b[order.id] = order
        if taken:
            order.status, order.error = "ERROR", f"Duplicate externalId {external}"
        elif unresolved:
            order.status = "ERROR"
            order.error = f"Unresolvable product identifier in orderItems {unresolved}"
        self._announce(order, order.status)
        return order

    def _resolves(self, item: dict[str, Any]) -> bool:
        if item.get("logisticsSku"):
            return item["logisticsSku"] in self.products
        data = item.get("productData") or {}
        return self.by_merchant_sku(str(data.get("sku"))) is not None

    def find_d2c(self, external_id: str) -> D2COrder | None:
        return next((o for o in self.d2c.values() if o.external_order_id == external_id), None)

    def find_b2b(self, external_id: str) -> B2BOrder | None:
        return next((o for o in self.b2b.values() if o.external_id == external_id), None)

    def set_status(self, order: Order, status: str) -> None:
        """Move an order to `status` (any, for tests), with its shipments and events."""
        allowed = D2C_STATUSES if isinstance(order, D2COrder) else B2B_STATUSES
        check_status(status, allowed, order.kind)
        now = self.clock()
        order.status, order.updated_at = status, now
        shipment = self._shipment_for(order, status, now)
        if isinstance(order, D2COrder):
            if status == "SHIPPED":
                order.shipped_at = now
            elif status == "DELIVERED":
                order.delivered_at = now
            elif status == "ERROR":
                order.error = {
                    "code": 1001,
                    "message": "Insufficient inventory",
                    "retriable": False,
                    "type": "STOCKOUT",
                    "lineItemErrors": [],
                }
        self._announce(order, status, shipment)

    def _shipment_for(self, order: Order, status: str, now: float) -> Shipment | None:
        lines = order.body.get("lineItems") or order.body.get("orderItems") or []
        items = [
            {"logisticsSku": i.get("logisticsSku"), "quantity": i.get("quantity")} for i in lines
        ]
        starts = ("PICKING", "SHIPPED", "IN_PROGRESS", "TENDERED")
        if not order.shipments and status in starts:
            order.shipments.append(Shipment(next(self._shipment_ids), "WAREHOUSE", "RNO1", items))
        if not order.shipments:
            return None
        shipment = order.shipments[0]
        if status in ("SHIPPED", "TENDERED"):
            shipment.status, shipment.shipped_at = "SHIPPED", now
            shipment.tracking_code = f"1Z999AA1{shipment.id:010d}"
        elif status == "CANCELLED":
            shipment.status = "CANCELLED"
        return shipment

    def _announce(self, order: Order, status: str, shipment: Shipment | None = None) -> None:
        table = D2C_EVENTS if isinstance(order, D2COrder) else B2B_EVENTS
        for event_type in table[status]:
            self.on_event(
                event_type, order, shipment if event_type.startswith("Shipment") else None
            )
