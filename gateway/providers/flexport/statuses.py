"""Flexport statuses → canonical statuses: the one table, for D2C orders and B2B outbounds.

D2C orders report `state{internalStatus, fulfillmentInProgress, fulfillmentStatus}`;
`raw_status` folds them into one string (`CREATED/IN_PROGRESS` while fulfilment runs,
`CREATED/STOPPED` when it stopped). B2B outbounds report `orderStatus` (its "Order
status lifecycle"). A status not in the table is logged by the adapter and taken as
`in_progress` (docs/providers/flexport.md#statuses).
"""

from __future__ import annotations

from typing import Any

from gateway.model.orders import Kind, Status

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


def raw_status(kind: Kind, body: Any) -> str | None:
    """The order's Flexport status: B2B `orderStatus`; D2C `state.internalStatus`, with
    `CREATED/IN_PROGRESS` while fulfilment runs and `CREATED/STOPPED` when it stopped."""
    if not isinstance(body, dict):
        return None
    if kind is Kind.B2B:
        value = body.get("orderStatus")
        return value.upper() if isinstance(value, str) else None
    state = body.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("internalStatus"), str):
        return None
    internal = str(state["internalStatus"]).upper()
    if internal == "CREATED":
        if str(state.get("fulfillmentStatus") or "").upper() == "STOPPED":
            return "CREATED/STOPPED"
        if state.get("fulfillmentInProgress") is True:
            return "CREATED/IN_PROGRESS"
    return internal


def tracking_of(body: Any) -> tuple[str | None, str | None]:
    """The first shipment label's tracking code and URL, if any."""
    shipments = body.get("shipments") if isinstance(body, dict) else None
    for shipment in shipments if isinstance(shipments, list) else []:
        if not isinstance(shipment, dict):
            continue
        for package in shipment.get("packages") or []:
            label = package.get("label") if isinstance(package, dict) else None
            if isinstance(label, dict) and label.get("trackingCode"):
                return str(label["trackingCode"]), label.get("trackingUrl")
        if shipment.get("trackingCode"):
            return str(shipment["trackingCode"]), shipment.get("trackingUrl")
    return None, None
