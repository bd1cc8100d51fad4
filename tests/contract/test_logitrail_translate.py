"""Golden files: canonical order → Logitrail order JSON, and the status table.

Each `logitrail/<case>.order.json` is translated and compared with `<case>.logitrail.json`.
After a deliberate change run `pytest tests/contract --regen-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.model.orders import CanonicalOrder, Status
from gateway.providers.logitrail import problems, statuses, translate
from tests.contract.golden import assert_golden

HERE = Path(__file__).parent / "logitrail"
CASES = sorted(p.name.removesuffix(".order.json") for p in HERE.glob("*.order.json"))


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden_file(case: str, request: pytest.FixtureRequest) -> None:
    order = CanonicalOrder.model_validate_json((HERE / f"{case}.order.json").read_bytes())
    produced = translate.to_order(order, reference=f"storefront-fi/{order.external_id}")
    assert_golden(HERE / f"{case}.logitrail.json", produced, request)


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 4


@pytest.mark.parametrize("case", CASES)
def test_every_required_field_of_the_order_json_is_present(case: str) -> None:
    order = CanonicalOrder.model_validate_json((HERE / f"{case}.order.json").read_bytes())
    body = translate.to_order(order, reference=f"storefront-fi/{order.external_id}")
    for field in ("firstName", "lastName", "address", "postalCode", "city"):
        assert body["customer"][field], field
    assert all(p["qty"] >= 1 and p["merchants_id"] for p in body["products"])
    assert body["destination"] in ("home", "letter") or len(body["destination"]) == 24


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("passive", Status.ACCEPTED),
        ("draft", Status.ACCEPTED),
        ("confirmed", Status.SUBMITTED),
        ("waiting_products", Status.ON_HOLD),
        ("problem", Status.EXCEPTION),
        ("processing", Status.IN_PROGRESS),
        ("processed", Status.SHIPPED),
        ("returning", Status.EXCEPTION),
        ("returned", Status.EXCEPTION),
        ("cancelled", Status.CANCELLED),
        ("deleted", Status.CANCELLED),
    ],
)
def test_status_table(raw: str, canonical: Status) -> None:
    assert statuses.status_of(raw) is canonical


def test_status_table_covers_every_contract_status() -> None:
    contract = {
        "draft",
        "passive",
        "confirmed",
        "waiting_products",
        "problem",
        "processing",
        "processed",
        "returning",
        "returned",
        "cancelled",
        "deleted",
    }
    assert set(statuses.STATUSES) == contract
    assert statuses.status_of("teleported") is None


def test_confirmed_or_later_excludes_unconfirmed_states() -> None:
    assert "passive" not in statuses.CONFIRMED_OR_LATER
    assert "deleted" not in statuses.CONFIRMED_OR_LATER
    assert {"confirmed", "processing", "processed"} <= statuses.CONFIRMED_OR_LATER


def test_check_refuses_a_pickup_point_id_logitrail_cannot_have() -> None:
    body = orjson.loads((HERE / "pickup-point.order.json").read_bytes())
    body["delivery"]["pickup_point_id"] = "KIOSK-1"
    problems = translate.check(CanonicalOrder.model_validate(body))
    assert [p.loc for p in problems] == ["delivery.pickup_point_id"]
    assert "24" in problems[0].msg


def test_provider_error_codes_map_to_canonical_fields() -> None:
    [error] = problems.field_errors("customer.firstName.required", "firstName is required")
    assert error.loc == "recipient.first_name"
    assert problems.field_errors("unknown", "boom") == []


def test_merchants_order_may_be_an_object() -> None:
    assert translate.merchants_order_of({"merchants_order": {"id": "A-1", "time": "t"}}) == "A-1"
    assert translate.merchants_order_of({"merchants_order": "A-2"}) == "A-2"
    assert translate.merchants_order_of({}) is None
