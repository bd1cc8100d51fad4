"""What of an order may come back: which orders (by status), and how many of each SKU.

Which orders: only goods that left the warehouse can come back, so an order is returnable
once it has shipped. The table gives the answer, and the reason, per canonical status.
Returnability never ends once it began (a shipped order moves on only to `delivered` or
`exception`), so the status check needs no lock against a racing status change.

How many: no SKU comes back more often than it was ordered, counting every earlier return of
the order that still takes goods back (all but `cancelled` and `rejected` ones). The stores
run `take_back` inside the transaction that inserts the return, with the order's row locked,
so two returns racing (on any replica) cannot both take the same units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

from gateway.errors import FieldProblem, Overreach
from gateway.model.lifecycle import RANK
from gateway.model.orders import MAX_QUANTITY, CanonicalOrder, Status
from gateway.model.returns import CanonicalReturn, ReturnLine, ReturnStatus
from gateway.model.text import STORED


class Returnable(StrEnum):
    YES = "yes"
    NO = "no"
    IF_SHIPPED = "if_shipped"
    """Only when the order had shipped before (its history reached `shipped`)."""


RETURNABLE: Mapping[Status, tuple[Returnable, str]] = {
    Status.ACCEPTED: (Returnable.NO, "it is not at a provider yet; nothing has left a warehouse"),
    Status.SUBMITTED: (
        Returnable.NO,
        "nothing has left the warehouse yet; cancel the order instead, or return it once it"
        " has shipped",
    ),
    Status.IN_PROGRESS: (
        Returnable.NO,
        "the warehouse is still picking and packing it; cancel the order instead, or return"
        " it once it has shipped",
    ),
    Status.ON_HOLD: (Returnable.NO, "it is held before shipping; nothing has left the warehouse"),
    Status.SHIPPED: (Returnable.YES, "the goods are on their way"),
    Status.DELIVERED: (Returnable.YES, "the goods were delivered"),
    Status.EXCEPTION: (
        Returnable.IF_SHIPPED,
        "a shipped parcel that is lost or on its way back can be returned (`agent_return`);"
        " an order stuck before it shipped has nothing to return",
    ),
    Status.CANCELLED: (Returnable.NO, "it is cancelled; no return can be registered for it"),
    Status.REJECTED: (
        Returnable.NO,
        "the provider never took it (or refused it); submit the corrected order with the same"
        " external_id instead",
    ),
}
"""Canonical order status → whether its goods can be returned, and why (the one table)."""

NOT_TAKING = frozenset({ReturnStatus.CANCELLED, ReturnStatus.REJECTED})
"""Return statuses that take nothing back: their units are returnable again."""


def why_not_returnable(status: Status, furthest: Status) -> str | None:
    """None when an order in `status` can be returned, else why not. `furthest`: the furthest
    main-line status its history reached (`gateway.model.lifecycle.reached`)."""
    answer, reason = RETURNABLE[status]
    if answer is Returnable.YES:
        return None
    if answer is Returnable.IF_SHIPPED and RANK[furthest] >= RANK[Status.SHIPPED]:
        return None
    return reason


def taken_back(earlier: Iterable[CanonicalReturn], of_order: Counter[str]) -> Counter[str]:
    """Units the returns `earlier` take back; a return without lines takes what it found left
    (it was stored so only when nothing had been taken back before it: the whole order)."""
    taken: Counter[str] = Counter()
    for ret in earlier:
        for line in ret.lines if ret.lines is not None else as_lines(of_order):
            taken[line.sku] += line.quantity
    return taken


def take_back(
    ret: CanonicalReturn, order: CanonicalOrder, earlier: Iterable[CanonicalReturn]
) -> CanonicalReturn:
    """The return as it is to be stored, given the order and its earlier returns that still
    take goods back; raises `Overreach` (every offending line named) when it asks too much.

    A return without lines takes back everything still returnable: it stays without lines
    (the provider copies the order's) while nothing was taken back before, else it gets the
    remaining quantities as its lines, so the provider is never asked for units twice.
    """
    of_order = order.units()
    taken = taken_back(earlier, of_order)
    remaining = Counter({sku: n - taken[sku] for sku, n in of_order.items()})
    if ret.lines is None:
        if not taken:
            return ret
        left = as_lines(remaining)
        if not left:
            problem = FieldProblem(
                "lines", "nothing of the order is left to return: earlier returns take it all"
            )
            raise Overreach([problem], remaining)
        return ret.model_copy(update={"lines": left})
    asked: Counter[str] = Counter()
    problems = []
    for i, line in enumerate(ret.lines):
        asked[line.sku] += line.quantity
        if line.sku not in of_order:
            problems.append(FieldProblem(f"lines[{i}].sku", f"the order has no {line.sku!r}"))
        elif asked[line.sku] > remaining[line.sku]:
            problems.append(
                FieldProblem(
                    f"lines[{i}].quantity",
                    f"{asked[line.sku]} of {line.sku!r} asked back, {remaining[line.sku]}"
                    f" remain returnable ({of_order[line.sku]} ordered, {taken[line.sku]} taken"
                    " back by earlier returns)",
                )
            )
    if problems:
        raise Overreach(problems, remaining)
    return ret


def take_back_json(ret_body: str, order_body: str, earlier: Iterable[str]) -> str:
    """`take_back` over the JSON bodies the stores keep: the body to store."""
    ret = CanonicalReturn.model_validate_json(ret_body, context=STORED)
    settled = take_back(
        ret,
        CanonicalOrder.model_validate_json(order_body, context=STORED),
        (CanonicalReturn.model_validate_json(body, context=STORED) for body in earlier),
    )
    return ret_body if settled is ret else settled.model_dump_json()


def as_lines(quantities: Counter[str]) -> list[ReturnLine]:
    """Return lines carrying `quantities`."""
    # An order may hold more of a SKU (over several lines) than one return line can carry:
    # split, as the order did (never more lines than the order had).
    lines = []
    for sku, n in quantities.items():
        lines += [
            ReturnLine(sku=sku, quantity=min(n - done, MAX_QUANTITY))
            for done in range(0, max(n, 0), MAX_QUANTITY)
        ]
    return lines
