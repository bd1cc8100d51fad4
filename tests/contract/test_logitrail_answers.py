"""Golden files: Logitrail's answers read back into canonical terms, and the small requests
(queries, bodies) the adapter sends besides orders and returns. How: `golden.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.errors import ProviderError
from gateway.model.returns import Decision
from gateway.providers.logitrail import problems, translate, translate_returns
from tests.contract.golden import Reader, Wire, wire_tests

HERE = Path(__file__).parent / "logitrail"
ORDER_ID = "650000000000000000000001"
REF = "storefront-fi/SHOP-1001"
RETURN_ID = "ret_01KB0000000000000000000001"

READERS: dict[str, Reader] = {
    "create": translate.order_id_of,
    "find": lambda body: translate.found_ids(body, REF),
    "confirm": lambda body: translate.confirmed_of(ORDER_ID, body),
    "get": lambda body: translate.order_of(ORDER_ID, body),
    "order_items": translate_returns.order_product_ids,
    "return": translate_returns.answered_return,
    "return_list": lambda body: translate_returns.found_returns(body, RETURN_ID),
}


def _error(op: str, status: int, body: Any) -> ProviderError:
    return problems.to_error(op, status, body, correlation_id="corr-1")


def _requests() -> dict[str, Any]:
    return {
        "find": translate.find_params(REF),
        "return_find": translate_returns.find_params(RETURN_ID, ORDER_ID),
        "return_decision": translate_returns.to_decision(Decision.TO_SHELF),
    }


(
    test_answer_reads_as_golden,
    test_every_reader_has_an_answer_and_errors_have_theirs,
    test_small_requests_match_golden,
) = wire_tests(Wire(HERE, READERS, _error, _requests))
