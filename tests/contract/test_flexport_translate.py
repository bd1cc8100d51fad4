"""Golden files: canonical order → Flexport `POST /orders` (D2C) and `POST /orders/rs` (B2B)
bodies; the status table; Flexport's rules checked before any call; webhooks.

Each `flexport/<case>.order.json` is translated by its `kind` with the logistics SKUs of
`LOGISTICS_SKUS` and compared with `<case>.flexport.json`. After a deliberate change run
`pytest tests/contract --regen-golden` and review the diff.
"""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.errors import WebhookRejected
from gateway.model.orders import CanonicalOrder, Kind, Status
from gateway.providers.flexport import problems, statuses, translate, webhooks
from tests.contract.golden import assert_golden

HERE = Path(__file__).parent / "flexport"
CASES = sorted(p.name.removesuffix(".order.json") for p in HERE.glob("*.order.json"))
LOGISTICS_SKUS = {"TSHIRT-M": "DSKU6DW2B4Q", "MUG": "DSKU9MUG001"}
REF = "storefront-fi/PO-1"
TODAY = date(2026, 11, 30)  # a Monday


def _load(case: str) -> CanonicalOrder:
    return CanonicalOrder.model_validate_json((HERE / f"{case}.order.json").read_bytes())


def _translate(order: CanonicalOrder) -> dict[str, Any]:
    if order.kind is Kind.B2B:
        return translate.to_b2b(order, reference=_ref(order), logistics_skus=LOGISTICS_SKUS)
    return translate.to_d2c(order, reference=_ref(order), logistics_skus=LOGISTICS_SKUS)


def _ref(order: CanonicalOrder) -> str:
    return f"storefront-fi/{order.external_id}"


def test_there_are_golden_cases_of_both_kinds() -> None:
    assert {c.split("-")[0] for c in CASES} == {"d2c", "b2b"}


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden_file(case: str, request: pytest.FixtureRequest) -> None:
    produced = _translate(_load(case))
    assert_golden(HERE / f"{case}.flexport.json", produced, request)


@pytest.mark.parametrize("case", CASES)
def test_golden_orders_pass_flexport_rules(case: str) -> None:
    order = _load(case)
    assert translate.check(order, order.kind, today=TODAY) == []


def test_b2b_merges_repeated_skus_and_sends_gtin_as_an_integer() -> None:
    body = translate.to_b2b(_load("b2b-retailer-dc"), reference=REF, logistics_skus=LOGISTICS_SKUS)
    items = body["orderItems"]
    assert [i.get("logisticsSku") or i["productData"]["sku"] for i in items] == [
        "DSKU6DW2B4Q",
        "BOOT-42",
        "DSKU9MUG001",
    ]
    assert [i["quantity"] for i in items] == [30, 8, 12]
    gtin = items[1]["productData"]["gtin"]
    assert gtin == 12345678905
    assert isinstance(gtin, int)


def test_b2b_ship_by_is_utc_and_speed_only_for_flexport_parcel() -> None:
    order = _load("b2b-retailer-dc")
    assert (
        translate.to_b2b(order, reference=REF, logistics_skus={})["shipBy"]
        == "2026-12-15T06:00:00Z"
    )
    ltl = translate.to_b2b(order, reference=REF, logistics_skus={}, shipping_type="LTL")
    assert ltl["transportationDetails"] == {"shippingPartner": "FLEXPORT", "shippingType": "LTL"}


def test_d2c_merged_line_takes_the_weighted_price_and_the_delivery_promise() -> None:
    body = translate.to_d2c(
        _load("d2c-us-repeated-sku"), reference=REF, logistics_skus=LOGISTICS_SKUS
    )
    shirt = body["lineItems"][0]
    assert shirt["quantity"] == 4
    assert shirt["customsUnitValue"] == {"amount": 18.5, "currencyCode": "USD"}  # (20 + 54) / 4
    assert body["promisedDeliveryByTime"] == "2026-12-24T23:59:59Z"


def test_ship_method_comes_from_the_configured_speed_map() -> None:
    order = _load("d2c-us-repeated-sku")
    body = translate.to_d2c(
        order, reference=REF, logistics_skus=LOGISTICS_SKUS, ship_methods={"express": "2DAY"}
    )  # type: ignore[dict-item]
    assert body["shipMethod"] == "2DAY"
    assert "shipMethod" not in translate.to_d2c(order, reference=REF, logistics_skus=LOGISTICS_SKUS)


def test_idempotency_key_is_derived_from_the_gateway_order_id() -> None:
    assert translate.idempotency_key("ord_01J") == "ord_01J:create"
    assert translate.idempotency_key("ord_01J") == translate.idempotency_key("ord_01J")


# rules checked before any call ---------------------------------------------------------------
def _order(**changes: Any) -> CanonicalOrder:
    body = orjson.loads((HERE / "b2b-minimal.order.json").read_bytes())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return CanonicalOrder.model_validate(body)


def _locs(order: CanonicalOrder, kind: Kind | None = None) -> list[str]:
    return [p.loc for p in translate.check(order, kind or order.kind, today=TODAY)]


def test_b2b_needs_a_state() -> None:
    [problem] = translate.check(_order(address={"region": None}), Kind.B2B, today=TODAY)
    assert (problem.loc, problem.msg) == (
        "address.region",
        "flexport B2B requires shipToAddress.state",
    )


@pytest.mark.parametrize(
    ("not_before", "ok"),
    [("2026-12-02", False), ("2026-12-03", True), ("2026-12-03T01:00:00+02:00", False)],
)
def test_b2b_ship_by_needs_three_business_days(not_before: str, ok: bool) -> None:
    assert (_locs(_order(not_before=not_before)) == []) is ok


def test_business_days_skip_the_weekend() -> None:
    assert translate.add_business_days(date(2026, 12, 4), 3) == date(2026, 12, 9)  # Fri → Wed


def test_b2b_over_1000_lines_after_merging_is_refused() -> None:
    base = _order()
    line = base.lines[0]
    many = base.model_copy(
        update={"lines": [line.model_copy(update={"sku": f"S-{i}"}) for i in range(1001)]}
    )
    assert _locs(many) == ["lines"]
    merged = base.model_copy(update={"lines": [line] * 1001})  # one SKU: one line item
    assert _locs(merged) == []


def test_repeated_sku_with_different_gtins_cannot_be_merged() -> None:
    line = {"sku": "MUG", "quantity": 1}
    order = _order(lines=[{**line, "gtin": "4006381333931"}, {**line, "gtin": "4006381333948"}])
    [problem] = translate.check(order, Kind.D2C, today=TODAY)
    assert problem.loc == "lines[1].gtin"


def test_d2c_has_no_pickup_points_and_us_needs_a_state() -> None:
    pickup = _order(delivery={"type": "pickup_point", "pickup_point_id": "PP-1"})
    assert _locs(pickup, Kind.D2C) == ["delivery.type"]
    us = _order(address={"country_code": "US", "region": None, "postal_code": "10001"})
    assert _locs(us, Kind.D2C) == ["address.region"]
    assert _locs(_order(address={"country_code": "US", "region": "NY"}), Kind.D2C) == []


def test_a_us_b2b_state_must_be_its_2_letter_code() -> None:
    us = {"country_code": "US", "postal_code": "89502"}
    assert _locs(_order(address={**us, "region": "Nevada"})) == ["address.region"]
    assert _locs(_order(address={**us, "region": "NV"})) == []
    assert _locs(_order(address={"region": "Île-de-France", "country_code": "FR"})) == []
    body = translate.to_b2b(
        _order(address={"region": "Île-de-France", "country_code": "FR"}),
        reference=REF,
        logistics_skus={},
    )
    assert body["shipToAddress"]["state"] == "Île-de-France"  # a name stays as given


def test_the_warehouse_may_pin_the_kind() -> None:
    order = _order()
    assert translate.kind_of(order, None) is Kind.B2B
    assert translate.kind_of(order, Kind.D2C) is Kind.D2C


# statuses ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PLANNED", Status.SUBMITTED),
        ("BOOKED", Status.SUBMITTED),
        ("IN_PROGRESS", Status.IN_PROGRESS),
        ("TENDERED", Status.SHIPPED),
        ("COMPLETED", Status.DELIVERED),
        ("CANCELLED", Status.CANCELLED),
        ("LOST_DAMAGED", Status.EXCEPTION),
        ("ERROR", Status.EXCEPTION),
    ],
)
def test_every_b2b_status_of_the_seed_maps(raw: str, status: Status) -> None:
    assert statuses.status_of(Kind.B2B, raw) is status


@pytest.mark.parametrize(
    ("state", "raw", "status"),
    [
        (
            {"internalStatus": "CREATED", "fulfillmentInProgress": False},
            "CREATED",
            Status.SUBMITTED,
        ),
        (
            {"internalStatus": "CREATED", "fulfillmentInProgress": True},
            "CREATED/IN_PROGRESS",
            Status.IN_PROGRESS,
        ),
        (
            {"internalStatus": "CREATED", "fulfillmentStatus": "STOPPED"},
            "CREATED/STOPPED",
            Status.ON_HOLD,
        ),
        ({"internalStatus": "SHIPPED"}, "SHIPPED", Status.SHIPPED),
        ({"internalStatus": "DELIVERED"}, "DELIVERED", Status.DELIVERED),
        ({"internalStatus": "CANCELLED"}, "CANCELLED", Status.CANCELLED),
        ({"internalStatus": "ERROR"}, "ERROR", Status.EXCEPTION),
    ],
)
def test_d2c_state_folds_into_one_status(state: dict[str, Any], raw: str, status: Status) -> None:
    assert translate.raw_status(Kind.D2C, {"state": state}) == raw
    assert statuses.status_of(Kind.D2C, raw) is status


def test_unknown_status_is_none_for_the_adapter_to_log() -> None:
    assert statuses.status_of(Kind.B2B, "HELD_BY_CUSTOMS") is None
    assert translate.raw_status(Kind.D2C, {"state": {}}) is None


def test_tracking_comes_from_the_first_label() -> None:
    body = {
        "shipments": [
            {"packages": [{"label": {"trackingCode": "1Z9", "trackingUrl": "https://t/1Z9"}}]}
        ]
    }
    assert translate.tracking_of(body) == ("1Z9", "https://t/1Z9")
    assert translate.tracking_of({"shipments": [{"trackingCode": "BOL-1"}]}) == ("BOL-1", None)


# errors and reconcile -----------------------------------------------------------------------
def test_invalid_params_map_to_canonical_fields_through_merged_lines() -> None:
    problem = {
        "invalid-params": [
            {"name": "shipToAddress.state", "reason": "unknown state"},
            {"name": "orderItems[1].productData.gtin", "reason": "must be an integer"},
        ]
    }
    errors = problems.field_errors(problem, line_indexes=[0, 1, 2])
    assert [(e.loc, e.msg) for e in errors] == [
        ("address.region", "flexport: shipToAddress.state: unknown state"),
        ("lines[1]", "flexport: orderItems[1].productData.gtin: must be an integer"),
    ]
    # item 1 of the sent order is canonical line 3 when lines 0 and 1 were merged:
    assert problems.field_errors(problem, line_indexes=[0, 3])[1].loc == "lines[3]"


def test_same_order_compares_quantities_and_postal_code() -> None:
    order = _load("b2b-retailer-dc")
    sent = translate.to_b2b(order, reference=REF, logistics_skus=LOGISTICS_SKUS)
    assert translate.same_order(Kind.B2B, order, REF, sent)
    other = {**sent, "shipToAddress": {**sent["shipToAddress"], "zip": "10001"}}
    assert not translate.same_order(Kind.B2B, order, REF, other)
    assert not translate.same_order(
        Kind.B2B, order, REF, {**sent, "orderItems": sent["orderItems"][:2]}
    )


# webhooks ------------------------------------------------------------------------------------
HEADER = "X-Flexport-Webhook-Token"


@pytest.mark.parametrize(
    "headers",
    [
        {HEADER: "s3cret"},
        {HEADER: "Bearer s3cret"},
        {"Authorization": "Basic " + base64.b64encode(b"flexport:s3cret").decode()},
    ],
)
def test_the_shared_token_is_accepted_as_registered(headers: dict[str, str]) -> None:
    webhooks.verify(headers, "s3cret", header=HEADER)


@pytest.mark.parametrize(
    "headers",
    [{}, {HEADER: "s3cre"}, {"Authorization": "Basic !!"}, {"Authorization": "Bearer s3cret"}],
)
def test_anything_else_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected):
        webhooks.verify(headers, "s3cret", header=HEADER)


def test_order_and_shipment_events_are_ids_only_and_others_dropped() -> None:
    body = orjson.dumps(
        [
            {
                "logisticsEventId": "e1",
                "logisticsEventType": "Order.Shipped",
                "orderId": 4920,
                "externalOrderId": "X",
            },
            {
                "logisticsEventId": "e2",
                "logisticsEventType": "Shipment.Shipped",
                "orderId": "73",
                "id": 88,
            },
            {
                "logisticsEventId": "e3",
                "logisticsEventType": "Inventory.Adjusted",
                "adjustmentId": 1,
            },
        ]
    )
    events = webhooks.events(body)
    assert [(e.event_id, e.topic, e.provider_order_id, e.status) for e in events] == [
        ("e1", "Order.Shipped", "4920", None),
        ("e2", "Shipment.Shipped", "73", None),
    ]


def test_an_event_without_an_id_is_deduplicated_on_its_content() -> None:
    one = webhooks.events(b'{"orderId": 1, "logisticsEventType": "Order.Packed"}')
    two = webhooks.events(b'{"logisticsEventType": "Order.Packed",  "orderId": 1}')
    assert one[0].event_id == two[0].event_id
    assert one[0].event_id.startswith("sha256:")


def test_a_body_that_is_not_events_is_unreadable() -> None:
    with pytest.raises(ValueError, match="event object"):
        webhooks.events(b'"hello"')


@pytest.mark.parametrize(
    ("ship_by", "ok"),
    [
        ("2026-12-02T23:00:00Z", False),
        ("2026-12-03T00:00:00Z", True),
        ("2026-12-03T01:00:00+02:00", False),  # 2026-12-02T23:00Z
    ],
)
def test_b2b_ship_by_from_the_canonical_ship_by_needs_three_business_days(
    ship_by: str, ok: bool
) -> None:
    """`ship_by` wins over `not_before` (which alone would pass) and is named when too soon."""
    assert _locs(_order(ship_by=ship_by, not_before="2026-12-10")) == ([] if ok else ["ship_by"])


def test_ship_by_goes_as_shipby_in_utc_to_b2b_and_as_the_promise_to_d2c() -> None:
    order = _order(ship_by="2026-12-04T09:30:00+02:00", not_before="2026-12-10")
    b2b = translate.to_b2b(order, reference=REF, logistics_skus={})
    assert b2b["shipBy"] == "2026-12-04T07:30:00Z"
    d2c = translate.to_d2c(
        _load("d2c-us-repeated-sku").model_copy(update={"ship_by": order.ship_by}),
        reference=REF,
        logistics_skus=LOGISTICS_SKUS,
    )
    assert d2c["promisedShipByTime"] == "2026-12-04T07:30:00Z"
    assert "promisedShipByTime" not in translate.to_d2c(
        _load("d2c-us-repeated-sku"), reference=REF, logistics_skus=LOGISTICS_SKUS
    )
