"""The canonical return: what callers send to `POST /v1/returns`.

A return references an order of the same client by its gateway id; the gateway sends it to the
provider that holds that order. `lines` omitted means "what the order held": the provider
copies them from the original order (Logitrail does exactly that when `items` is left out).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from gateway.model.orders import INTEGRAL, MAX_LINES, MAX_QUANTITY, Strict
from gateway.model.text import LongText, OrderId, ShortText


class ReturnType(StrEnum):
    CUSTOMER_RETURN = "customer_return"
    """The customer sent the goods back."""
    AGENT_RETURN = "agent_return"
    """The carrier or pickup point sent the parcel back: the recipient never collected it."""


class ReturnLine(Strict):
    sku: ShortText
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY), INTEGRAL]


class CanonicalReturn(Strict):
    order_id: OrderId
    external_id: ShortText | None = None
    """The merchant's own reference (RMA number); unique per client when given."""
    type: ReturnType = ReturnType.CUSTOMER_RETURN
    remarks: LongText | None = None
    handling_instructions: LongText | None = None
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=MAX_LINES)] | None = None
    """None (omitted): every line of the order comes back, as the provider copies them."""


class Decision(StrEnum):
    """What the warehouse is to do with the returned goods (Logitrail `merchant_decision`)."""

    TO_SHELF = "to_shelf"
    SHELF_FOR_DISPOSAL = "shelf_for_disposal"
    RESEND = "resend"
    REJECT = "reject"
    DESTROY = "destroy"


class DecisionRequest(Strict):
    """Body of `POST /v1/returns/{id}/decision`."""

    code: Decision


class ReturnStatus(StrEnum):
    """Canonical return statuses; each provider maps its own onto these in one table."""

    ACCEPTED = "accepted"
    """Stored by the gateway, not yet at the provider."""
    REGISTERED = "registered"
    """The provider knows the return; the goods have not been handled yet (cancellable)."""
    AWAITING_DECISION = "awaiting_decision"
    """The goods arrived; the provider waits for the merchant's decision."""
    IN_PROGRESS = "in_progress"
    """The warehouse is handling the goods (restocking, resending, inspecting)."""
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    """The provider refused to create the return."""


class ReturnPhase(StrEnum):
    """Submission phases of a return row: `pending → creating → done` (or `failed`); or
    `parts`: the return's lines are several parts' of a split order, each part its own
    provider return and submission (the store's `return_parts`)."""

    PENDING = "pending"
    CREATING = "creating"
    DONE = "done"
    FAILED = "failed"
    PARTS = "parts"


OPEN_RETURN_PHASES = frozenset({ReturnPhase.PENDING, ReturnPhase.CREATING})
FINAL_RETURN_STATUSES = frozenset(
    {ReturnStatus.COMPLETED, ReturnStatus.CANCELLED, ReturnStatus.REJECTED}
)
