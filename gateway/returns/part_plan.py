"""Which parts of a split order a return goes to: each part that shipped its lines, with the
lines it takes back (`plan_parts`) — one provider return per part, one gateway return.

A part's returnable units are what it shipped less what the order's earlier returns took
back from its provider order; a part not returnable by its own status (it has not shipped)
has none. Units no part can take are refused: `NotReturnable` naming the part that holds
them when it has not shipped, else `Overreach` (more than the order has left).
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from gateway.errors import FieldProblem, Overreach
from gateway.errors.refusals import NotReturnable
from gateway.model.lifecycle import Outcome, reached
from gateway.model.orders import CanonicalOrder
from gateway.model.part_orders import split_return
from gateway.model.returnable import RETURNABLE, Returnable, why_not_returnable
from gateway.model.returns import CanonicalReturn, ReturnLine
from gateway.store import OrderReads, OrderRow, PartRow, PartStore, ReturnPartStore


class PlanStore(OrderReads, PartStore, ReturnPartStore, Protocol):
    """What planning a split order's return needs of the store."""


async def not_returnable(
    store: OrderReads, order: OrderRow, part: PartRow | None
) -> NotReturnable | None:
    """Why `order` (of a split order, its `part`: the part's own status decides) takes no
    return, or None. How far the order got decides in `exception` only: a part there that
    shipped while the order as a whole had not is refused."""
    status = order.status if part is None else part.status
    furthest = status
    if RETURNABLE[status][0] is Returnable.IF_SHIPPED:
        applied = await store.history(order.id)
        furthest = reached(h.status for h in applied if h.outcome is Outcome.APPLIED)
    reason = why_not_returnable(status, furthest)
    if reason is None:
        return None
    which = "" if part is None else f" (its part {part.part} {status.value})"
    return NotReturnable(
        f"order {order.id} is {order.status.value}{which}: {reason}",
        order_id=order.id,
        order_status=order.status.value,
    )


async def plan_parts(
    store: PlanStore, order: OrderRow, canonical: CanonicalOrder, ret: CanonicalReturn
) -> list[tuple[PartRow, list[ReturnLine]]]:
    """The parts of the split `order` that `ret` goes to, each with its lines, in part order;
    raises `NotReturnable` or `Overreach` (see the module)."""
    parts = await store.parts_of(order.id)
    taken: dict[str, Counter[str]] = {}
    for provider_order_id, units in await store.taken_from_parts(order.id):
        taken.setdefault(provider_order_id, Counter()).update(units)
    refusals: dict[int, NotReturnable] = {}
    available: dict[int, Counter[str]] = {}
    for part in parts:
        refusal = await not_returnable(store, order, part)
        shipped: Counter[str] = Counter()
        if refusal is not None or part.provider_order_id is None:
            refusals[part.part] = refusal or _unknown_id(order, part)
        else:
            for _i, sku, quantity in part.lines:
                shipped[sku] += quantity
            shipped.subtract(taken.get(part.provider_order_id, Counter()))
        available[part.part] = shipped
    split, left = split_return(ret.lines, available)
    if left or not split:
        # Units held by a part that has not shipped are that part's refusal.
        for part in parts:
            if part.part in refusals and (
                not split or any(sku in left for _i, sku, _q in part.lines)
            ):
                raise refusals[part.part]
        raise Overreach(_problems(ret, canonical, available, left), _remaining(available))
    by_number = {part.part: part for part in parts}
    return [(by_number[number], lines) for number, lines in split.items()]


def _unknown_id(order: OrderRow, part: PartRow) -> NotReturnable:
    # Not expected once it shipped (its provider's news named it by that id).
    return NotReturnable(
        f"order {order.id}'s part {part.part} is {part.status.value}, but the gateway does"
        f" not know {part.provider}'s id for it",
        order_id=order.id,
        order_status=order.status.value,
    )


def _remaining(available: dict[int, Counter[str]]) -> Counter[str]:
    remaining: Counter[str] = Counter()
    for units in available.values():
        remaining.update(+units)
    return remaining


def _problems(
    ret: CanonicalReturn,
    order: CanonicalOrder,
    available: dict[int, Counter[str]],
    left: Counter[str],
) -> list[FieldProblem]:
    if ret.lines is None:
        msg = "nothing of the order is left to return: earlier returns take it all"
        return [FieldProblem("lines", msg)]
    of_order, remaining = order.units(), _remaining(available)
    problems = []
    asked: Counter[str] = Counter()
    for i, line in enumerate(ret.lines):
        asked[line.sku] += line.quantity
        if line.sku not in of_order:
            problems.append(FieldProblem(f"lines[{i}].sku", f"the order has no {line.sku!r}"))
        elif line.sku in left and asked[line.sku] > remaining[line.sku]:
            problems.append(
                FieldProblem(
                    f"lines[{i}].quantity",
                    f"{asked[line.sku]} of {line.sku!r} asked back, {remaining[line.sku]}"
                    f" remain returnable ({of_order[line.sku]} ordered)",
                )
            )
    return problems
