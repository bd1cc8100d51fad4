"""Flexport statuses → canonical statuses: the one table, for D2C orders and B2B outbounds,
and the one for returns.

D2C orders report `state{internalStatus, fulfillmentInProgress, fulfillmentStatus}`;
`translate.raw_status` folds them into one string (`CREATED/IN_PROGRESS` while fulfilment runs,
`CREATED/STOPPED` when it stopped). B2B outbounds report `orderStatus` (its "Order
status lifecycle"). A status not in the table is logged by the adapter and taken as
`in_progress` (docs/providers/flexport.md#statuses).
"""

from __future__ import annotations

from gateway.model.orders import Kind, Status
from gateway.model.returns import ReturnStatus

STATUSES: dict[tuple[Kind, str], Status] = {
    # D2C: `state.internalStatus`, refined by `fulfillmentInProgress` (see `d2c_raw_status`).
    (Kind.D2C, "CREATED"): Status.SUBMITTED,
    (Kind.D2C, "CREATED/IN_PROGRESS"): Status.IN_PROGRESS,
    (Kind.D2C, "CREATED/STOPPED"): Status.ON_HOLD,  # fulfillmentStatus STOPPED
    (Kind.D2C, "SHIPPED"): Status.SHIPPED,
    (Kind.D2C, "DELIVERED"): Status.DELIVERED,
    (Kind.D2C, "CANCELLED"): Status.CANCELLED,
    (Kind.D2C, "ERROR"): Status.EXCEPTION,  # accepted, then failed (stockout, bad address…)
    # B2B outbound `orderStatus` (Flexport's "Order status lifecycle").
    (Kind.B2B, "PLANNED"): Status.SUBMITTED,
    (Kind.B2B, "BOOKED"): Status.SUBMITTED,
    (Kind.B2B, "IN_PROGRESS"): Status.IN_PROGRESS,
    (Kind.B2B, "TENDERED"): Status.SHIPPED,
    (Kind.B2B, "COMPLETED"): Status.DELIVERED,
    (Kind.B2B, "CANCELLED"): Status.CANCELLED,
    (Kind.B2B, "LOST_DAMAGED"): Status.EXCEPTION,
    (Kind.B2B, "ERROR"): Status.EXCEPTION,  # terminal; "no API retry mechanism"
}
"""Flexport status → canonical status: the one table, for both APIs."""


def status_of(kind: Kind, raw: str) -> Status | None:
    """Canonical status of a Flexport status; None for one we do not know."""
    return STATUSES.get((kind, raw.upper()))


RETURN_STATUSES: dict[str, ReturnStatus] = {
    "CREATED": ReturnStatus.REGISTERED,  # label bought, nothing sent yet
    "SHIPPED": ReturnStatus.REGISTERED,  # on its way back; still cancellable
    "RECEIVED_FOR_PROCESSING": ReturnStatus.IN_PROGRESS,  # received: no longer cancellable
    "PROCESSED": ReturnStatus.COMPLETED,  # inspected, dispositions set
    "CANCELLED": ReturnStatus.CANCELLED,
}
"""Flexport return status → canonical return status: the one table."""


def return_status_of(raw: str) -> ReturnStatus | None:
    return RETURN_STATUSES.get(raw.upper())
