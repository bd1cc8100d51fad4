"""A split order's part as a provider is given it: the canonical order cut to the part's lines."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.model.orders import CanonicalOrder


def part_order(order: CanonicalOrder, lines: Sequence[tuple[int, str, int]]) -> CanonicalOrder:
    """The order as one part's provider is given it: only the part's lines (`(index in the
    order, sku, quantity)`), at the part's quantities (each line as the order has it
    otherwise)."""
    taken = [
        order.lines[i].model_copy(update={"quantity": quantity}) for i, _sku, quantity in lines
    ]
    return order.model_copy(update={"lines": taken})
