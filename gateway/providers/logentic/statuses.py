"""Logentic statuses → canonical statuses: the one table (docs/providers/logentic.md,
"Statuses"), and the status each webhook topic announces. A status not in the table is
logged by the adapter and taken as in progress.
"""

from __future__ import annotations

from gateway.model.orders import Status

STATUSES: dict[str, Status] = {
    "PENDING": Status.SUBMITTED,  # Logentic holds it; nothing more to confirm
    "PICKED": Status.IN_PROGRESS,
    "PACKED": Status.IN_PROGRESS,
    "IN_TRANSIT": Status.SHIPPED,
    "COMPLETED": Status.DELIVERED,
    "CANCELLED": Status.CANCELLED,
    "ON_HOLD": Status.ON_HOLD,
    "BACK_ORDERED": Status.ON_HOLD,  # inventory-blocked
    "EXCEPTION": Status.EXCEPTION,  # failed sync / exception group of the status article
}
"""Logentic order status → canonical status: the one table."""

TOPIC_STATUSES: dict[str, str] = {
    "order-created": "PENDING",
    "order-picked": "PICKED",
    "order-packed": "PACKED",
    "order-in-transit": "IN_TRANSIT",
    "order-completed": "COMPLETED",
    "order-cancelled": "CANCELLED",
}
"""Webhook topic → the status it announces (used when the body carries none)."""


def status_of(raw: str) -> Status | None:
    """Canonical status of a Logentic status; None for one we do not know."""
    return STATUSES.get(raw.upper())
