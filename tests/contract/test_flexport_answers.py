"""Golden files: Flexport's answers read back into canonical terms (D2C orders, B2B
outbounds, products, inventory, returns, problem+json errors), and the small requests (queries,
headers) the adapter sends besides orders and returns. How: `golden.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.model.orders import CanonicalOrder, Kind
from gateway.providers.flexport import (
    problems,
    translate,
    translate_inventory,
    translate_products,
    translate_returns,
)
from tests.contract.golden import Reader, Wire, wire_tests

HERE = Path(__file__).parent / "flexport"
ORDER_ID = "100042"
RETURN_ID = "ret_01KB0000000000000000000001"


def _order(case: str) -> CanonicalOrder:
    return CanonicalOrder.model_validate_json((HERE / f"{case}.order.json").read_bytes())


def _found(kind: Kind, case: str) -> Reader:
    """What `find` reads of an answer: the order id, and whether it is the order of `case`."""
    order = _order(case)
    reference = f"storefront-fi/{order.external_id}"
    return lambda body: {
        "order_id": translate.order_id_of(kind, body),
        "same_order": translate.same_order(kind, order, reference, body),
    }


READERS: dict[str, Reader] = {
    "create_d2c": lambda body: translate.order_id_of(Kind.D2C, body),
    "create_b2b": lambda body: translate.order_id_of(Kind.B2B, body),
    "find_d2c": _found(Kind.D2C, "d2c-minimal"),
    "find_b2b": _found(Kind.B2B, "b2b-minimal"),
    "get_d2c": lambda body: translate.order_of(Kind.D2C, ORDER_ID, body),
    "get_b2b": lambda body: translate.order_of(Kind.B2B, ORDER_ID, body),
    "products": translate_products.products_of,
    "inventory_all": translate_inventory.available_of,
    "inventory_by_warehouse": lambda body: {
        "per_warehouse": (per := translate_inventory.per_warehouse_of(body)),
        "units_in_atl1_rno1": {
            sku: translate_inventory.units_in(by, ["ATL1", "RNO1", "ATL1"])
            for sku, by in per.items()
        },
    },
    "return": translate_returns.answered_return,
    "return_list": lambda body: translate_returns.found_returns(body, RETURN_ID),
}


def _error(op: str, status: int, body: Any) -> Any:
    return problems.to_error(
        op,
        status,
        body,
        correlation_id=None,
        retry_after=30.0,
        token_env="FLEXPORT_TOKEN",
        lines=[0, 2],  # sent item 1 is canonical line 2 (lines 1 and 0 share a SKU)
    )


def _requests() -> dict[str, Any]:
    return {
        "create": translate.idempotent("ord_01KB0000000000000000000001"),
        "cancel": translate.idempotent(ORDER_ID, "cancel"),
        "products_page_3": translate_products.page_params(2, 100),
        "inventory_all_page_2": translate_inventory.all_inventory_params(1, 100),
        "inventory_by_warehouse": {
            "query": translate_inventory.warehouse_query(),
            "body": translate_inventory.warehouse_body(["DSKU9MUG001", "DSKU9TEE002"]),
        },
        "return_find": translate_returns.find_params(RETURN_ID),
        "return_cancel": translate_returns.cancel_headers("9001"),
    }


(
    test_answer_reads_as_golden,
    test_every_reader_has_an_answer_and_errors_have_theirs,
    test_small_requests_match_golden,
) = wire_tests(Wire(HERE, READERS, _error, _requests))
