"""Golden files: canonical return → Logitrail `order_return` JSON, the return status
table, and reading Logitrail's return answers.

Each `logitrail/returns/<case>.return.json` holds the gateway's inputs (gateway id, the
provider's order id, SKU → product id, the canonical return) and is compared with
`<case>.logitrail.json`. After a deliberate change run `pytest tests/contract --regen-golden`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.model.returns import CanonicalReturn, Decision, ReturnStatus
from gateway.providers.logitrail import statuses, translate_returns
from tests.contract.golden import assert_golden

HERE = Path(__file__).parent / "logitrail" / "returns"
CASES = sorted(p.name.removesuffix(".return.json") for p in HERE.glob("*.return.json"))


def _translate(case: str) -> dict[str, Any]:
    given = orjson.loads((HERE / f"{case}.return.json").read_bytes())
    ret = CanonicalReturn.model_validate(given["return"])
    reference = f"storefront-fi/{ret.external_id}" if ret.external_id else None
    return translate_returns.to_return(
        given["gateway_id"],
        ret,
        given["provider_order_id"],
        given["product_ids"],
        reference=reference,
    )


@pytest.mark.parametrize("case", CASES)
def test_return_translation_matches_golden_file(case: str, request: pytest.FixtureRequest) -> None:
    produced = _translate(case)
    assert_golden(HERE / f"{case}.logitrail.json", produced, request)


def test_there_are_golden_return_cases() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES)
def test_every_return_names_the_gateway_id_and_the_original_order(case: str) -> None:
    given = orjson.loads((HERE / f"{case}.return.json").read_bytes())
    body = _translate(case)["order_return"]
    assert body["name"] == given["gateway_id"]  # what reconciliation searches with `q`
    assert body["original_order"] == {"id": given["provider_order_id"]}
    assert body["type"] in ("customer_return", "agent_return")


def test_items_are_left_out_when_the_return_names_no_lines() -> None:
    # Logitrail copies the original order's items only when `items` is absent; [] means none.
    assert "items" not in _translate("all-lines")["order_return"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("preinfo_received", ReturnStatus.REGISTERED),
        ("pending", ReturnStatus.REGISTERED),
        ("pending_merchant_decision", ReturnStatus.AWAITING_DECISION),
        ("accepted", ReturnStatus.IN_PROGRESS),
        ("resend_pending", ReturnStatus.IN_PROGRESS),
        ("restocking_pending", ReturnStatus.IN_PROGRESS),
        ("processing", ReturnStatus.IN_PROGRESS),
        ("processed", ReturnStatus.COMPLETED),
        ("deleted", ReturnStatus.CANCELLED),
    ],
)
def test_return_status_table(raw: str, canonical: ReturnStatus) -> None:
    assert statuses.return_status_of(raw) is canonical


def test_return_status_table_covers_every_documented_status() -> None:
    seed = {
        "pending",
        "accepted",
        "resend_pending",
        "restocking_pending",
        "processing",
        "processed",
        "deleted",
        "preinfo_received",
        "pending_merchant_decision",
    }
    assert set(statuses.RETURN_STATUSES) == seed
    assert statuses.return_status_of("teleported") is None


def test_cancellable_statuses_are_exactly_the_registered_ones() -> None:
    registered = {r for r, s in statuses.RETURN_STATUSES.items() if s is ReturnStatus.REGISTERED}
    assert registered == statuses.CANCELLABLE_RETURN_STATUSES == {"pending", "preinfo_received"}


def test_decision_body_and_reading_it_back() -> None:
    assert translate_returns.to_decision(Decision.SHELF_FOR_DISPOSAL) == {
        "merchant_decision": {"code": "shelf_for_disposal"}
    }
    answer = {
        "order_return": {
            "id": "650000000000000000000009",
            "status": "restocking_pending",
            "merchant_decision": {"code": "to_shelf"},
        }
    }
    ret = translate_returns.return_of(answer)
    assert ret is not None
    assert translate_returns.decision_of(ret) is Decision.TO_SHELF
    assert translate_returns.decision_of({"merchant_decision": None}) is None
    assert translate_returns.decision_of({"merchant_decision": {"code": "burn"}}) is None


def test_answers_without_a_24_hex_id_or_a_status_are_not_returns() -> None:
    assert translate_returns.return_of({"order_return": {"id": "x", "status": "pending"}}) is None
    assert translate_returns.return_of({"order_return": {"id": "6" * 24}}) is None
    assert translate_returns.return_of({"success": True}) is None
    rows = translate_returns.returns_of(
        {"order_returns": [{"id": "6" * 24, "status": "pending"}, {"id": 3}], "total": 2}
    )
    assert rows == [{"id": "6" * 24, "status": "pending"}]
    assert translate_returns.returns_of({"orders": []}) is None


def test_product_ids_are_read_from_the_order_items() -> None:
    order = {
        "items": [
            {"product": {"id": "650000000000000000000001", "sku": "TSHIRT-M"}, "quantity": 2},
            {"product": {"id": None, "sku": "GHOST"}, "quantity": 1},
            "junk",
        ]
    }
    assert translate_returns.product_ids_of(order) == {"TSHIRT-M": "650000000000000000000001"}
    ret = CanonicalReturn.model_validate(
        {"order_id": "ord_01KB0000000000000000000001", "lines": [{"sku": "GHOST", "quantity": 1}]}
    )
    problems = translate_returns.unknown_skus(ret, translate_returns.product_ids_of(order))
    assert [p.loc for p in problems] == ["lines[0].sku"]
