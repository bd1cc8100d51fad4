"""Golden files: canonical return → Flexport `POST /returns` (docs/providers/flexport.md), and
the return status table.

Each `flexport/returns/<case>.return.json` holds the gateway's inputs (gateway id, Flexport's
order id, the canonical return and its order) and is compared with `<case>.flexport.json`.
After a deliberate change run `pytest tests/contract --regen-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.model.orders import CanonicalOrder
from gateway.model.returns import CanonicalReturn, ReturnStatus
from gateway.providers.flexport import statuses, translate_returns
from tests.contract.golden import assert_golden

HERE = Path(__file__).parent / "flexport" / "returns"
CASES = sorted(p.name.removesuffix(".return.json") for p in HERE.glob("*.return.json"))


def _translate(case: str) -> dict[str, Any]:
    given = orjson.loads((HERE / f"{case}.return.json").read_bytes())
    return translate_returns.to_return(
        given["gateway_id"],
        CanonicalReturn.model_validate(given["return"]),
        CanonicalOrder.model_validate(given["order"]),
        given["provider_order_id"],
        reference=_ref(given),
    )


def _ref(given: dict[str, Any]) -> str | None:
    external_id = given["return"].get("external_id")
    return f"storefront-fi/{external_id}" if external_id else None


@pytest.mark.parametrize("case", CASES)
def test_return_translation_matches_golden_file(case: str, request: pytest.FixtureRequest) -> None:
    produced = _translate(case)
    assert_golden(HERE / f"{case}.flexport.json", produced, request)


def test_there_are_golden_return_cases() -> None:
    assert len(CASES) >= 2


@pytest.mark.parametrize("case", CASES)
def test_every_required_field_is_present(case: str) -> None:
    body = _translate(case)
    assert body["rma"]
    assert body["externalReturnId"].startswith("ret_")
    assert body["returnItems"]
    assert all(i["type"] == "SKU" and i["quantity"] >= 1 for i in body["returnItems"])
    assert body["sourceAddress"]["address1"]  # required without an externalLabel


def test_without_lines_the_orders_lines_are_sent_merged_per_sku() -> None:
    items = _translate("all-lines")["returnItems"]
    assert items == [
        {"identifier": "TSHIRT-M", "type": "SKU", "quantity": 3},
        {"identifier": "MUG", "type": "SKU", "quantity": 1},
    ]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("CREATED", ReturnStatus.REGISTERED),
        ("SHIPPED", ReturnStatus.REGISTERED),
        ("RECEIVED_FOR_PROCESSING", ReturnStatus.IN_PROGRESS),
        ("PROCESSED", ReturnStatus.COMPLETED),
        ("CANCELLED", ReturnStatus.CANCELLED),
        ("cancelled", ReturnStatus.CANCELLED),
    ],
)
def test_return_status_table(raw: str, canonical: ReturnStatus) -> None:
    assert statuses.return_status_of(raw) is canonical


def test_unknown_status_and_non_returns() -> None:
    assert statuses.return_status_of("LOST") is None
    assert translate_returns.return_of({"id": True, "status": "CREATED"}) is None
    assert translate_returns.return_of({"id": 7}) is None
    assert translate_returns.returns_of([{"id": 7, "status": "CREATED"}, {"id": 8}]) == [
        {"id": 7, "status": "CREATED"}
    ]
    assert translate_returns.returns_of({"data": [{"id": 7, "status": "CREATED"}]}) == [
        {"id": 7, "status": "CREATED"}
    ]
    assert translate_returns.returns_of({"orders": []}) is None
