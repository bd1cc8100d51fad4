"""What a submit creates: its noun (in texts and problem codes) and its collection path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    noun: str
    path: str

    def location(self, resource_id: str | None) -> dict[str, str]:
        return {"Location": f"{self.path}/{resource_id}"} if resource_id else {}


ORDERS = Resource("order", "/v1/orders")
RETURNS = Resource("return", "/v1/returns")
