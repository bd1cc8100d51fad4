"""A split order's parts as providers are given them: the canonical order cut to a part's
lines (`part_order`); a return of such an order divided among the parts that shipped its
lines (`split_return`), and its status derived from theirs (`of_return_parts`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from gateway.model.orders import CanonicalOrder
from gateway.model.returnable import as_lines
from gateway.model.returns import ReturnLine, ReturnStatus

RETURN_RANK: Mapping[ReturnStatus, int] = {
    ReturnStatus.ACCEPTED: 0,
    ReturnStatus.REGISTERED: 1,
    ReturnStatus.AWAITING_DECISION: 2,
    ReturnStatus.IN_PROGRESS: 3,
    ReturnStatus.COMPLETED: 4,
}
"""How far a return that takes goods back has got (cancelled and rejected ones take none)."""


def part_order(order: CanonicalOrder, lines: Sequence[tuple[int, str, int]]) -> CanonicalOrder:
    """The order as one part's provider is given it: only the part's lines (`(index in the
    order, sku, quantity)`), at the part's quantities (each line as the order has it
    otherwise)."""
    taken = [
        order.lines[i].model_copy(update={"quantity": quantity}) for i, _sku, quantity in lines
    ]
    return order.model_copy(update={"lines": taken})


def split_return(
    lines: Sequence[ReturnLine] | None, parts: Mapping[int, Counter[str]]
) -> tuple[dict[int, list[ReturnLine]], Counter[str]]:
    """A return's lines divided among the parts of its order: `parts` maps each part's
    number to the units still returnable from it (what it shipped less what earlier returns
    took back from it; nothing when it has not shipped). A SKU several parts hold is divided
    by those units, the lower part first; `lines` None is everything returnable of every
    part. Returns the lines of each part that gets any (in part order, each part's SKUs in
    the return's order) and the units no part can take."""
    if lines is None:
        wanted = Counter[str]()
        for units in parts.values():
            wanted.update(+units)
    else:
        wanted = Counter()
        for line in lines:
            wanted[line.sku] += line.quantity
    taken: dict[int, Counter[str]] = {}
    left = Counter(wanted)
    for number in sorted(parts):
        units = parts[number]
        share = Counter({sku: min(n, max(units[sku], 0)) for sku, n in left.items()})
        share = +share
        if share:
            taken[number] = share
            left -= share
    return {number: as_lines(share) for number, share in taken.items()}, +left


def of_return_parts(parts: Iterable[ReturnStatus]) -> ReturnStatus:
    """A return's status from its parts' (one provider return each): the least advanced
    among the parts taking goods back (so `completed` only when every such part is);
    `rejected` only when every part not cancelled is; `cancelled` when every part is."""
    statuses = list(parts)
    if not statuses:
        raise ValueError("a return without parts has no status of its parts")
    live = [status for status in statuses if status is not ReturnStatus.CANCELLED]
    if not live:
        return ReturnStatus.CANCELLED
    taking = [status for status in live if status is not ReturnStatus.REJECTED]
    if not taking:
        return ReturnStatus.REJECTED
    return min(taking, key=RETURN_RANK.__getitem__)
