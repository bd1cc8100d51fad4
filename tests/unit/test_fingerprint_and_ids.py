"""Idempotency fingerprint and gateway ids."""

from __future__ import annotations

import hashlib

import orjson

from gateway.model.ids import new_order_id, new_return_id
from gateway.model.orders import CanonicalOrder
from gateway.model.returns import CanonicalReturn
from gateway.submissions.fingerprint import fingerprint
from tests.conftest import order


def _parse(raw: bytes) -> CanonicalOrder:
    return CanonicalOrder.model_validate(orjson.loads(raw))


def test_fingerprint_ignores_key_order_and_whitespace() -> None:
    body = order()
    compact = orjson.dumps(body)
    pretty = orjson.dumps(dict(reversed(list(body.items()))), option=orjson.OPT_INDENT_2)
    assert fingerprint(_parse(compact)) == fingerprint(_parse(pretty))


def test_fingerprint_treats_an_omitted_default_like_the_default() -> None:
    with_kind = order()
    without = order()
    del without["kind"]
    assert fingerprint(CanonicalOrder.model_validate(with_kind)) == fingerprint(
        CanonicalOrder.model_validate(without)
    )


def test_fingerprint_changes_with_any_value() -> None:
    a = CanonicalOrder.model_validate(order())
    b = CanonicalOrder.model_validate(order(tags=["vip", "x"]))
    c = order()
    c["lines"][0]["quantity"] = 3
    assert len({fingerprint(a), fingerprint(b), fingerprint(CanonicalOrder.model_validate(c))}) == 3


def test_money_keeps_its_digits_in_the_fingerprint() -> None:
    a = order()
    b = order()
    b["lines"][0]["unit_price"] = "19.9"
    assert fingerprint(CanonicalOrder.model_validate(a)) != fingerprint(
        CanonicalOrder.model_validate(b)
    )


def test_order_ids_sort_by_creation_time() -> None:
    ids = [new_order_id(1_800_000_000 + i) for i in range(50)]
    assert ids == sorted(ids)
    assert all(i.startswith("ord_") and len(i) == 30 for i in ids)
    assert len({new_order_id(1.0) for _ in range(100)}) == 100


def test_return_fingerprint_ignores_defaults_and_differs_from_any_order() -> None:
    explicit = CanonicalReturn.model_validate(
        {"order_id": "ord_01KB0000000000000000000001", "type": "customer_return", "lines": None}
    )
    implicit = CanonicalReturn.model_validate({"order_id": "ord_01KB0000000000000000000001"})
    unsalted = hashlib.sha256(
        orjson.dumps(implicit.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    assert fingerprint(explicit) == fingerprint(implicit)
    # Salted: a return never shares a fingerprint with an order body of the same JSON.
    assert fingerprint(implicit) != unsalted


def test_return_ids_are_prefixed_and_sort_by_time() -> None:
    first, second = new_return_id(1_800_000_000.0), new_return_id(1_800_000_001.0)
    assert first.startswith("ret_")
    assert len(first) == 30
    assert first < second
