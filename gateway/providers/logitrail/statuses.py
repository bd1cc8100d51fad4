"""Logitrail statuses → canonical statuses: the one table for orders, one for returns.

Status names are documented; their meanings partly so (docs/providers/logitrail.md,
"Statuses"). A status not in a table is logged by the adapter and taken as in progress.
"""

from __future__ import annotations

from gateway.model.orders import Status
from gateway.model.returns import ReturnStatus

STATUSES: dict[str, Status] = {
    "draft": Status.ACCEPTED,  # created but not confirmed: not yet "submitted"
    "passive": Status.ACCEPTED,
    "confirmed": Status.SUBMITTED,
    "waiting_products": Status.ON_HOLD,  # awaiting stock
    "problem": Status.EXCEPTION,
    "processing": Status.IN_PROGRESS,
    "processed": Status.SHIPPED,  # legacy docs: processed = shipped
    "returning": Status.EXCEPTION,  # shipment on its way back to the warehouse
    "returned": Status.EXCEPTION,
    "cancelled": Status.CANCELLED,  # cancelled after confirm
    "deleted": Status.CANCELLED,  # deleted before confirm
}
"""Logitrail order status → canonical status: the one table."""

CONFIRMED_OR_LATER = frozenset(STATUSES) - {"draft", "passive", "deleted"}
"""Statuses that prove a confirm already happened (used when a confirm is resumed)."""

RETURN_STATUSES: dict[str, ReturnStatus] = {
    "preinfo_received": ReturnStatus.REGISTERED,  # announced, nothing arrived yet
    "pending": ReturnStatus.REGISTERED,  # waiting for the parcel
    "pending_merchant_decision": ReturnStatus.AWAITING_DECISION,
    "accepted": ReturnStatus.IN_PROGRESS,  # the warehouse took the parcel in
    "resend_pending": ReturnStatus.IN_PROGRESS,
    "restocking_pending": ReturnStatus.IN_PROGRESS,
    "processing": ReturnStatus.IN_PROGRESS,
    "processed": ReturnStatus.COMPLETED,
    "deleted": ReturnStatus.CANCELLED,  # what cancel does (a soft delete)
}
"""Logitrail return status → canonical return status: the one table."""

CANCELLABLE_RETURN_STATUSES = frozenset({"pending", "preinfo_received"})


def status_of(raw: str) -> Status | None:
    """Canonical status of a Logitrail status; None when Logitrail sent one we do not know."""
    return STATUSES.get(raw)


def return_status_of(raw: str) -> ReturnStatus | None:
    return RETURN_STATUSES.get(raw)
