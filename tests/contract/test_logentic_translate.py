"""Golden files: canonical order → Logentic `POST /orders` body; units; statuses.

Each `logentic/<case>.order.json` is translated with the item ids of `ITEM_IDS` and compared
with `<case>.logentic.json`. After a deliberate change run `pytest tests/contract
--regen-golden` and review the diff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from gateway.errors import WebhookRejected
from gateway.model.orders import CanonicalOrder, Line, Status
from gateway.providers.logentic import problems, statuses, translate, webhooks
from tests.contract.golden import assert_golden

HERE = Path(__file__).parent / "logentic"
CASES = sorted(p.name.removesuffix(".order.json") for p in HERE.glob("*.order.json"))
ITEM_IDS = {"TSHIRT-M": 28488, "MUG": 28489, "BOOT-42": 28490}
REQUIRED = (
    "order_type",
    "status",
    "warehouse_id",
    "recipient.name",
    "recipient.email",
    "recipient.phone",
    "stored_items",
    "place.address1",
    "place.postal_code",
    "place.city",
    "place.province_code",
    "place.country_code",
)


def _load(case: str) -> CanonicalOrder:
    return CanonicalOrder.model_validate_json((HERE / f"{case}.order.json").read_bytes())


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden_file(case: str, request: pytest.FixtureRequest) -> None:
    order = _load(case)
    reference = f"storefront-fi/{order.external_id}"
    produced = translate.to_order(order, reference=reference, warehouse_id=1, item_ids=ITEM_IDS)
    assert_golden(HERE / f"{case}.logentic.json", produced, request)


@pytest.mark.parametrize("case", CASES)
def test_every_field_logentic_requires_is_present(case: str) -> None:
    body = translate.to_order(
        _load(case), reference="storefront-fi/ORDER", warehouse_id=7, item_ids=ITEM_IDS
    )
    for dotted in REQUIRED:
        value: object = body
        for part in dotted.split("."):
            assert isinstance(value, dict)
            value = value[part]
        assert value not in (None, "", []), dotted
    assert isinstance(body["warehouse_id"], int)
    assert all(isinstance(s["item_id"], int) and s["quantity"] >= 1 for s in body["stored_items"])


def test_repeated_skus_are_merged_into_one_stored_item() -> None:
    body = translate.to_order(
        _load("repeated-sku"), reference="r", warehouse_id=1, item_ids=ITEM_IDS
    )
    assert body["stored_items"] == [
        {"item_id": 28488, "quantity": 4},
        {"item_id": 28490, "quantity": 1},
    ]


@pytest.mark.parametrize(
    ("missing", "loc"),
    [("email", "recipient.email"), ("phone", "recipient.phone")],
)
def test_check_names_the_field_and_the_provider_rule(missing: str, loc: str) -> None:
    body = orjson.loads((HERE / "minimal.order.json").read_bytes())
    del body["recipient"][missing]
    [problem] = translate.check(CanonicalOrder.model_validate(body))
    assert problem.loc == loc
    assert "logentic requires" in problem.msg


@pytest.mark.parametrize(
    ("region", "ok"),
    [(None, False), ("QC", True), ("ny", True), ("Quebec", False), ("ABC", True), ("ABCD", False)],
)
def test_region_must_be_a_province_code(region: str | None, ok: bool) -> None:
    body = orjson.loads((HERE / "minimal.order.json").read_bytes())
    body["address"]["region"] = region
    problems = translate.check(CanonicalOrder.model_validate(body))
    assert (problems == []) is ok
    if not ok:
        assert problems[0].loc == "address.region"


def test_province_code_is_sent_upper_case() -> None:
    body = translate.to_order(_load("minimal"), reference="r", warehouse_id=1, item_ids=ITEM_IDS)
    assert body["place"]["province_code"] == "NY"


# units: millimetres and grams → inches and the account's weight unit, rounded up -------------


@pytest.mark.parametrize(
    ("mm", "inches"),
    [(0, "0.00"), (1, "0.04"), (25, "0.99"), (254, "10.00"), (255, "10.04"), (100_000, "3937.01")],
)
def test_millimetres_to_inches_round_up(mm: int, inches: str) -> None:
    assert translate.mm_to_inches(mm) == Decimal(inches)


def test_an_exact_inch_stays_exact() -> None:
    assert translate.mm_to_inches(254) == Decimal("10.00")
    assert translate.mm_to_inches(508) == Decimal("20.00")


@pytest.mark.parametrize(
    ("unit", "grams", "expected"),
    [
        ("lb", 0, "0.000"),
        ("lb", 1, "0.003"),
        ("lb", 453, "0.999"),
        ("lb", 454, "1.001"),
        ("oz", 28, "0.988"),
        ("oz", 29, "1.023"),
        ("kg", 1, "0.001"),
        ("kg", 1500, "1.500"),
        ("g", 180, "180.000"),
    ],
)
def test_grams_to_the_accounts_weight_unit_round_up(unit: str, grams: int, expected: str) -> None:
    assert translate.grams_to(unit, grams) == Decimal(expected)


def test_item_body_for_posting_an_unknown_sku() -> None:
    line = Line(sku="NEW-1", quantity=1, name="New", weight_g=454, dimensions_mm=(254, 1, 25))
    assert translate.to_item(line, weight_unit="lb") == {
        "name": "New",
        "external_name": "NEW-1",
        "width_in": 10.0,
        "height_in": 0.04,
        "depth_in": 0.99,
        "weight": 1.001,
    }


def test_an_unknown_item_needs_dimensions_and_weight() -> None:
    problems = translate.item_problems(Line(sku="X", quantity=1), 3)
    assert [p.loc for p in problems] == ["lines[3].dimensions_mm", "lines[3].weight_g"]


# statuses, errors, webhooks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("PENDING", Status.SUBMITTED),
        ("PICKED", Status.IN_PROGRESS),
        ("PACKED", Status.IN_PROGRESS),
        ("IN_TRANSIT", Status.SHIPPED),
        ("COMPLETED", Status.DELIVERED),
        ("CANCELLED", Status.CANCELLED),
        ("ON_HOLD", Status.ON_HOLD),
        ("BACK_ORDERED", Status.ON_HOLD),
        ("EXCEPTION", Status.EXCEPTION),
        ("pending", Status.SUBMITTED),
    ],
)
def test_status_table(raw: str, canonical: Status) -> None:
    assert statuses.status_of(raw) is canonical


def test_unknown_status_is_none() -> None:
    assert statuses.status_of("TELEPORTED") is None


def test_every_topic_announces_a_known_status() -> None:
    assert all(statuses.status_of(s) is not None for s in statuses.TOPIC_STATUSES.values())


def test_422_fields_map_to_canonical_fields() -> None:
    errors = problems.field_errors(
        {
            "message": "x",
            "errors": {
                "recipient.email": ["The recipient.email field is required."],
                "place.province_code": ["The place.province_code field is required."],
                "stored_items.0.item_id": ["The selected stored_items.0.item_id is invalid."],
            },
        }
    )
    assert [e.loc for e in errors] == ["recipient.email", "address.region", "lines"]
    assert errors[0].msg == "logentic: The recipient.email field is required."


SECRET = "shh"
BODY = orjson.dumps(
    {"id": "evt-1", "topic": "order-completed", "data": {"id": 19015, "status": "COMPLETED"}}
)


def _sig(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_signature_in_hex_or_base64_verifies() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    webhooks.verify({"Signature": _sig(BODY)}, BODY, SECRET, header="Signature")
    webhooks.verify({"Signature": _sig(BODY).upper()}, BODY, SECRET, header="Signature")
    webhooks.verify(
        {"Signature": base64.b64encode(digest).decode()}, BODY, SECRET, header="Signature"
    )


@pytest.mark.parametrize(
    "headers", [{}, {"Signature": ""}, {"Signature": "00" * 32}, {"Signature": _sig(BODY + b" ")}]
)
def test_forged_or_missing_signature_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        webhooks.verify(headers, BODY, SECRET, header="Signature")


def test_no_secret_configured_rejects_everything() -> None:
    with pytest.raises(WebhookRejected):
        webhooks.verify({"Signature": _sig(BODY)}, BODY, None, header="Signature")


def test_webhook_events_parse_id_topic_order_and_status() -> None:
    [event] = webhooks.events(
        {"Logentic-Topic": "order-completed"}, BODY, topic_header="Logentic-Topic"
    )
    assert (event.event_id, event.topic, event.provider_order_id, event.status) == (
        "evt-1",
        "order-completed",
        "19015",
        Status.DELIVERED,
    )


def test_webhook_without_id_is_keyed_by_its_body_hash() -> None:
    body = orjson.dumps({"data": {"id": 5}})
    [event] = webhooks.events(
        {"Logentic-Topic": "order-picked"}, body, topic_header="Logentic-Topic"
    )
    assert event.event_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert event.status is Status.IN_PROGRESS  # from the topic, the body had no status


def test_the_signed_body_topic_wins_over_the_unsigned_header() -> None:
    body = orjson.dumps({"id": "e-2", "topic": "order-picked", "data": {"id": 5}})
    [event] = webhooks.events(
        {"Logentic-Topic": "order-cancelled"}, body, topic_header="Logentic-Topic"
    )
    assert (event.topic, event.raw_status, event.status) == (
        "order-picked",
        "PICKED",
        Status.IN_PROGRESS,
    )


def test_a_header_topic_that_is_not_printable_text_is_not_taken() -> None:
    body = orjson.dumps({"id": "e-3", "data": {"id": 5}})
    [event] = webhooks.events(
        {"Logentic-Topic": "order-\udcff\x00"}, body, topic_header="Logentic-Topic"
    )
    assert (event.topic, event.status) == ("unknown", None)
