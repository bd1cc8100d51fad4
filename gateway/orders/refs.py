"""A stored order's (or split part's) order at its provider, as every call about it hands it
over."""

from __future__ import annotations

from gateway.providers.base import ProviderOrderRef
from gateway.store import OrderRow, PartRow


def provider_ref(row: OrderRow | PartRow) -> ProviderOrderRef:
    """The provider's id of `row` with what the provider keeps with it (an order or part the
    provider holds: its id is stored)."""
    assert row.provider_order_id is not None, f"order {row.id} is at no provider yet"
    return ProviderOrderRef(row.provider_order_id, row.provider_data)
