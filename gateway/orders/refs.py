"""A stored order's order at its provider, as every call about it hands it over."""

from __future__ import annotations

from gateway.providers.base import ProviderOrderRef
from gateway.store import OrderRow


def provider_ref(row: OrderRow) -> ProviderOrderRef:
    """The provider's id of `row` with what the provider keeps with it (an order the provider
    holds: its id is stored)."""
    assert row.provider_order_id is not None, f"order {row.id} is at no provider yet"
    return ProviderOrderRef(row.provider_order_id, row.provider_data)
