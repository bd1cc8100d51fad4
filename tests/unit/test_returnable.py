"""Which orders can be returned (the table, per canonical status) and what a return may take
back — the pure rules the service and both stores apply."""

from __future__ import annotations

import pytest

from gateway.errors import Overreach
from gateway.model.orders import MAX_QUANTITY, CanonicalOrder, Status
from gateway.model.returnable import RETURNABLE, take_back, why_not_returnable
from gateway.model.returns import CanonicalReturn
from tests.conftest import order

S = Status
ORDER_ID = "ord_01KB0000000000000000000000"


def test_every_status_has_an_answer_with_a_reason() -> None:
    assert set(RETURNABLE) == set(Status)
    assert all(reason for _answer, reason in RETURNABLE.values())


@pytest.mark.parametrize(
    ("status", "furthest", "returnable"),
    [
        (S.ACCEPTED, S.ACCEPTED, False),
        (S.SUBMITTED, S.SUBMITTED, False),
        (S.IN_PROGRESS, S.IN_PROGRESS, False),
        (S.ON_HOLD, S.IN_PROGRESS, False),
        (S.SHIPPED, S.SHIPPED, True),
        (S.DELIVERED, S.DELIVERED, True),
        (S.EXCEPTION, S.SHIPPED, True),  # lost or on its way back after it shipped
        (S.EXCEPTION, S.IN_PROGRESS, False),  # stuck before it left the warehouse
        (S.CANCELLED, S.SHIPPED, False),
        (S.REJECTED, S.ACCEPTED, False),
    ],
)
def test_only_orders_that_have_shipped_are_returnable(
    status: Status, furthest: Status, returnable: bool
) -> None:
    assert (why_not_returnable(status, furthest) is None) is returnable


def test_a_return_without_lines_gets_what_is_left_split_to_the_line_limit() -> None:
    lines = [{"sku": "BOLT", "quantity": MAX_QUANTITY}] * 3 + [{"sku": "NUT", "quantity": 5}]
    big = CanonicalOrder.model_validate(order("BIG", lines=lines))
    earlier = CanonicalReturn.model_validate(
        {"order_id": ORDER_ID, "lines": [{"sku": "BOLT", "quantity": 1}]}
    )

    rest = take_back(CanonicalReturn(order_id=ORDER_ID), big, [earlier])

    assert rest.lines is not None
    assert [(line.sku, line.quantity) for line in rest.lines] == [
        ("BOLT", MAX_QUANTITY),
        ("BOLT", MAX_QUANTITY),
        ("BOLT", MAX_QUANTITY - 1),
        ("NUT", 5),
    ]
    with pytest.raises(Overreach) as refused:
        take_back(rest, big, [earlier, rest])
    assert refused.value.remaining == {"BOLT": 0, "NUT": 0}
    assert [p.loc for p in refused.value.problems] == [f"lines[{i}].quantity" for i in range(4)]
