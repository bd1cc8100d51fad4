"""Golden files: Logentic's answers read back into canonical terms, and the small requests
(queries, bodies) the adapter sends besides orders. How: `golden.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.errors import ProviderError
from gateway.model.orders import Line
from gateway.providers.logentic import problems, translate
from tests.contract.golden import Reader, Wire, wire_tests

HERE = Path(__file__).parent / "logentic"
ORDER_ID = "19015"
REF = "storefront-fi/CA-1"


def _rows(body: Any) -> list[dict[str, Any]]:
    page = translate.page_of(body)
    assert page is not None
    return page[0]


READERS: dict[str, Reader] = {
    "create": translate.order_id_of,
    "order": lambda body: translate.order_of(ORDER_ID, body),
    "page": translate.page_of,
    "find": lambda body: [translate.order_id_for(row, REF) for row in _rows(body)],
    "items": lambda body: [translate.item_id_for(row, "MUG") for row in _rows(body)],
    "quantities": lambda body: translate.quantities_of(_rows(body)),
}


def _error(op: str, status: int, body: Any) -> ProviderError:
    return problems.to_error(op, status, body, correlation_id="corr-1")


def _requests() -> dict[str, Any]:
    line = Line(sku="LAMP", quantity=1, name="Lamp", dimensions_mm=(300, 450, 200), weight_g=1250)
    return {
        "cancel": translate.to_cancel(),
        "create_item_lb": translate.to_item(line, weight_unit="lb"),
        "create_item_kg": translate.to_item(line, weight_unit="kg"),
        "unknown_items": problems.unknown_items([(0, line)], stopped_after=None),
        "unknown_items_stopped": problems.unknown_items([(2, line)], stopped_after=10),
    }


(
    test_answer_reads_as_golden,
    test_every_reader_has_an_answer_and_errors_have_theirs,
    test_small_requests_match_golden,
) = wire_tests(Wire(HERE, READERS, _error, _requests))
