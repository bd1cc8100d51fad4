"""What the Logitrail sandbox remembers: clients, tokens, products, orders and returns."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.sandbox.harness.records import check_status, utc_iso

ORDER_STATUSES = (
    "passive",
    "confirmed",
    "waiting_products",
    "problem",
    "processing",
    "processed",
    "returning",
    "returned",
    "cancelled",
    "deleted",
)
RETURN_STATUSES = (
    "pending",
    "accepted",
    "resend_pending",
    "restocking_pending",
    "processing",
    "processed",
    "deleted",
    "preinfo_received",
    "pending_merchant_decision",
)
"""Order return statuses."""
# Statuses at which the parcel exists, so the order carries a tracking code.
_TRACKED = frozenset(ORDER_STATUSES) - {"passive", "cancelled", "deleted"}
TRACKING_URL = "https://tracking.logitrail.com/{code}"


@dataclass
class SandboxClient:
    """One registered OAuth client and the scopes it may request (its scope allowlist)."""

    client_id: str
    client_secret: str
    allowed_scopes: frozenset[str]


@dataclass
class SandboxOrder:
    """An order held by the sandbox; `body` is the order JSON as last received."""

    id: str
    merchants_order: str  # "" when the body had none
    body: dict[str, Any]
    status: str
    tracking_code: str | None
    tracking_url: str | None
    created_at: float
    updated_at: float


@dataclass
class SandboxReturn:
    """An order return held by the sandbox, as the detail endpoint shows it."""

    id: str
    name: str | None
    type: str
    status: str
    remarks: str | None
    original_order: str | None
    merchant_reference: str | None
    handling_instructions: str | None
    items: list[dict[str, Any]]
    services: list[Any]
    created_at: float
    updated_at: float
    merchant_decision: str | None = None
    inbound_shipment: dict[str, Any] | None = None
    """`{id, status}` once linked: `pending`, `processing`, `processed` or `cancelled`."""


@dataclass(frozen=True)
class IssuedToken:
    scopes: frozenset[str]
    expires_at: float


class SandboxState:
    """Tokens and orders, with the clock and the seeded id generator."""

    def __init__(
        self,
        *,
        clients: list[SandboxClient],
        merchant_id: str,
        token_ttl_s: float,
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self.clients = {c.client_id: c for c in clients}
        self.merchant_id = merchant_id
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self.orders: dict[str, SandboxOrder] = {}
        self.returns: dict[str, SandboxReturn] = {}
        self.products: dict[str, str] = {}
        """Merchant SKU (`merchants_id`) → product id; a line with a new SKU creates one."""
        self.on_status: Callable[[SandboxOrder], None] = lambda _order: None
        """Hears every status change (webhooks, autopilot)."""
        self._tokens: dict[str, IssuedToken] = {}
        self._ids = random.Random(f"logitrail-ids-{seed}")

    # tokens

    def authenticate_client(self, client_id: str, client_secret: str) -> SandboxClient | None:
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            return None
        return client

    def issue_token(self, scopes: frozenset[str]) -> str:
        now = self.clock()
        self._tokens = {t: v for t, v in self._tokens.items() if v.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = IssuedToken(scopes=scopes, expires_at=now + self.token_ttl_s)
        return token

    def token(self, token: str) -> IssuedToken | None:
        """The token's grant if it was issued, not revoked and not expired by the clock."""
        issued = self._tokens.get(token)
        if issued is None or self.clock() >= issued.expires_at:
            return None
        return issued

    def expire_tokens(self) -> None:
        self._tokens.clear()

    # orders

    def new_order(self, body: dict[str, Any], merchants_order: str) -> SandboxOrder:
        order_id = self.new_id()
        self.register_products(body)
        now = self.clock()
        order = SandboxOrder(
            id=order_id,
            merchants_order=merchants_order,
            body=body,
            status="passive",
            tracking_code=None,
            tracking_url=None,
            created_at=now,
            updated_at=now,
        )
        self.orders[order_id] = order
        return order

    def set_status(self, order: SandboxOrder, status: str) -> None:
        check_status(status, ORDER_STATUSES, "order")
        order.status = status
        if status in _TRACKED and order.tracking_code is None:
            code = "JJFI" + "".join(str(self._ids.randrange(10)) for _ in range(16))
            order.tracking_code = code
            order.tracking_url = TRACKING_URL.format(code=code)
        order.updated_at = self.clock()
        self.on_status(order)

    def register_products(self, body: dict[str, Any]) -> None:
        lines = order_products(body)
        for line in lines if isinstance(lines, list) else []:
            sku = line.get("merchants_id") if isinstance(line, dict) else None
            if isinstance(sku, str) and sku not in self.products:
                self.products[sku] = self.new_id()

    def sku_of(self, product_id: str) -> str | None:
        return next((sku for sku, pid in self.products.items() if pid == product_id), None)

    def order_items(self, order: SandboxOrder) -> list[dict[str, Any]]:
        """The order's lines as the current API shows them: `items[{product, quantity}]`."""
        lines = order_products(order.body)
        items = []
        for line in lines if isinstance(lines, list) else []:
            sku = line.get("merchants_id")
            items.append(
                {
                    "product": {"id": self.products.get(sku), "sku": sku, "name": line.get("name")},
                    "quantity": line.get("qty"),
                }
            )
        return items

    def set_return_status(self, ret: SandboxReturn, status: str) -> None:
        check_status(status, RETURN_STATUSES, "return")
        ret.status = status
        ret.updated_at = self.clock()

    def new_id(self) -> str:
        """A fresh 24-hex id, unique among everything the sandbox holds."""
        while True:
            new = f"{self._ids.getrandbits(96):024x}"
            if (
                new not in self.orders
                and new not in self.returns
                and new not in self.products.values()
            ):
                return new


def order_products(body: dict[str, Any]) -> Any:
    """The order lines: `products_all` (replaces all lines) if given, else `products`."""
    lines = body.get("products_all")
    return body.get("products") if lines is None else lines


def render_order(order: SandboxOrder, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The order as `GET /orders/{id}` shows it (`{"order": <this>}`)."""
    body = order.body
    customer = dict(body.get("customer") or {})
    if customer.get("countryCode") is None:
        customer["countryCode"] = "FI"
    products = order_products(body)
    return {
        "id": order.id,
        "merchants_order": order.merchants_order or None,
        "status": order.status,
        "tracking_code": order.tracking_code,
        "tracking_url": order.tracking_url,
        "customer": customer,
        "products": products,
        "items": items,
        "created_at": utc_iso(order.created_at),
        "updated_at": utc_iso(order.updated_at),
    }
