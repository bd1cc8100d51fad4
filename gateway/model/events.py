"""Events out to callers: their types and the JSON they carry.

An event is written to the outbox in the same transaction as the change it reports, so the
feed (`GET /v1/events`) and the subscribers' webhooks can never miss a change nor report one
that was rolled back. The payload follows the Standard Webhooks shape:
`{"type", "timestamp", "data"}`; `data` for order events is `order_event_data`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Protocol

from gateway.model.orders import Status
from gateway.model.returns import Decision, ReturnStatus
from gateway.model.view import stamp

ORDER_ACCEPTED = "order.accepted"
ORDER_SUBMITTED = "order.submitted"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_REJECTED = "order.rejected"
ORDER_CANCELLED = "order.cancelled"
ORDER_UPDATED = "order.updated"
"""A client changed the order's fields (`PATCH`); `data.changed` names them, never values."""

_BY_STATUS = {
    Status.ACCEPTED: ORDER_ACCEPTED,
    Status.SUBMITTED: ORDER_SUBMITTED,
    Status.REJECTED: ORDER_REJECTED,
    Status.CANCELLED: ORDER_CANCELLED,
}


def order_event_type(status: Status) -> str:
    """The event an order entering `status` produces."""
    return _BY_STATUS.get(status, ORDER_STATUS_CHANGED)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append to a tenant's feed (see `store.append_event`)."""

    client_id: str
    type: str
    subject: str
    """The id of what it is about (`ord_…`, `ret_…`): events of one subject stay in order."""
    data: dict[str, Any]


class DeliveryState(StrEnum):
    """Where one event stands on its way to one subscriber."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    """Every attempt failed: kept, shown by `GET /v1/deliveries`, retried only on request."""


@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    id: str
    client_id: str
    type: str
    subject: str
    data: dict[str, Any]
    created_at: datetime

    def payload(self) -> dict[str, Any]:
        """The body sent to subscribers and shown in the feed (Standard Webhooks shape)."""
        return {
            "id": self.id,
            "type": self.type,
            "timestamp": stamp(self.created_at),
            "data": self.data,
        }


def order_event_data(
    *,
    order_id: str,
    external_id: str,
    status: Status,
    previous_status: Status | None,
    provider: str | None,
    provider_order_id: str | None,
    provider_status: str | None,
    tracking_code: str | None,
    tracking_url: str | None,
    source: str,
    actor: str,
    detail: str | None,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "external_id": external_id,
        "status": status.value,
        "previous_status": previous_status.value if previous_status else None,
        "provider": provider,
        "provider_order_id": provider_order_id,
        "provider_status": provider_status,
        "tracking_code": tracking_code,
        "tracking_url": tracking_url,
        "source": source,
        "actor": actor,
        "detail": detail,
    }


def matches(event_type: str, patterns: Sequence[str]) -> bool:
    """Whether a subscriber's `events = ["order.*", …]` takes this event type."""
    return any(fnmatchcase(event_type, p) for p in patterns)


RETURN_CREATED = "return.created"
RETURN_STATUS_CHANGED = "return.status_changed"
RETURN_CANCELLED = "return.cancelled"
RETURN_DECIDED = "return.decided"
"""The client gave the merchant's decision (`data.decision`), whether or not the status moved."""


def return_event_type(status: ReturnStatus) -> str:
    """The event a return entering `status` produces (`accepted`: it was just created)."""
    if status is ReturnStatus.ACCEPTED:
        return RETURN_CREATED
    if status is ReturnStatus.CANCELLED:
        return RETURN_CANCELLED
    return RETURN_STATUS_CHANGED


class ReturnFacts(Protocol):
    """What a return event reports of a return: the store's `ReturnRow` has it all (a
    protocol, so the model never imports the store that imports it)."""

    @property
    def id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> ReturnStatus: ...
    @property
    def provider(self) -> str: ...
    @property
    def provider_return_id(self) -> str | None: ...
    @property
    def provider_status(self) -> str | None: ...
    @property
    def decision(self) -> Decision | None: ...


def return_event_data(
    ret: ReturnFacts,
    *,
    previous_status: ReturnStatus | None,
    source: str,
    actor: str,
    detail: str | None,
) -> dict[str, Any]:
    return {
        "return_id": ret.id,
        "external_id": ret.external_id,
        "order_id": ret.order_id,
        "type": ret.type,
        "status": ret.status.value,
        "previous_status": previous_status.value if previous_status else None,
        "provider": ret.provider,
        "provider_return_id": ret.provider_return_id,
        "provider_status": ret.provider_status,
        "decision": ret.decision.value if ret.decision else None,
        "source": source,
        "actor": actor,
        "detail": detail,
    }


def return_event(
    ret: ReturnFacts,
    *,
    previous_status: ReturnStatus | None,
    source: str,
    actor: str,
    detail: str | None,
    event_type: str | None = None,
) -> NewEvent:
    """The feed event for `ret` having just entered its current status (or, with
    `event_type`, for what was done to it: a decision)."""
    data = return_event_data(
        ret, previous_status=previous_status, source=source, actor=actor, detail=detail
    )
    return NewEvent(ret.client_id, event_type or return_event_type(ret.status), ret.id, data)


ORDER_HELD = "order.held"
"""The order was held before routing (a hold rule, a caller, its `hold_until`), or its hold
changed; `data.detail` says why and until when."""
ORDER_RELEASED = "order.released"
"""A held order was released: routed, and on its way to its provider."""
ORDER_LATE = "order.late"
"""The order was not shipped by its `ship_by` (once per order)."""
