"""A return as the Flexport sandbox stores it, and the statuses it may take (a module of its
own: the state and the returns API both use it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.sandbox.harness.records import utc_iso

RETURN_STATUSES = ("CREATED", "SHIPPED", "RECEIVED_FOR_PROCESSING", "PROCESSED", "CANCELLED")


@dataclass
class FlexportReturn:
    id: int
    body: dict[str, Any]
    status: str
    created_at: float
    updated_at: float

    @property
    def external_return_id(self) -> str:
        return str(self.body["externalReturnId"])

    def to_json(self) -> dict[str, Any]:
        label = self.body.get("externalLabel") or {
            "carrier": "USPS",
            "trackingCode": f"9400{self.id:018d}",
            "trackingUrl": f"https://tools.usps.com/go/TrackConfirmAction?tLabels=9400{self.id}",
            "labelUrl": f"https://labels.flexport.example/returns/{self.id}.pdf",
        }
        return {
            "id": self.id,
            "status": self.status,
            "rma": self.body["rma"],
            "externalReturnId": self.external_return_id,
            "logisticsOrderId": self.body.get("logisticsOrderId"),
            "sourceAddress": self.body.get("sourceAddress"),
            "shippingLabel": label,
            "returnItems": [
                {
                    "identifier": item["identifier"],
                    "type": item["type"],
                    "expectedQuantity": item["quantity"],
                    "inspectedItems": [],
                }
                for item in self.body["returnItems"]
            ],
            "createdAt": utc_iso(self.created_at, "milliseconds"),
            "updatedAt": utc_iso(self.updated_at, "milliseconds"),
        }
