"""Bad input gets a clear problem+json naming the field and rule; nothing is stored or sent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import SandboxHandle, auth, order, order_calls, read_json

PROBLEM = "application/problem+json"


async def _post(gateway: TestClient[Any, Any], body: Any, key: str = "k") -> tuple[int, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=key))
    assert resp.content_type == PROBLEM or resp.status < 400
    return resp.status, await read_json(resp)


def _locs(problem: dict[str, Any]) -> list[str]:
    return [e["loc"] for e in problem["errors"]]


async def test_problem_body_has_rfc9457_members(gateway: TestClient[Any, Any]) -> None:
    status, problem = await _post(gateway, order(unexpected=1))
    assert status == 422
    assert {"type", "title", "status", "detail", "instance", "errors"} <= problem.keys()
    assert problem["status"] == 422
    assert problem["instance"] == "/v1/orders"
    assert problem["type"] == "/problems/validation"


async def test_unknown_field_is_rejected_not_dropped(gateway: TestClient[Any, Any]) -> None:
    body = order()
    body["recipient"]["nickname"] = "A"
    status, problem = await _post(gateway, body)
    assert status == 422
    assert _locs(problem) == ["recipient.nickname"]
    assert "unknown field" in problem["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"lines": []}, "lines", "at least 1"),
        ({"lines": [{"sku": "A", "quantity": 1}] * 1001}, "lines", "at most 1000"),
        ({"lines": [{"sku": "A", "quantity": 0}]}, "lines[0].quantity", "greater than or equal"),
        ({"lines": [{"sku": "A", "quantity": "2"}]}, "lines[0].quantity", "valid integer"),
        (
            {"lines": [{"sku": "A", "quantity": 1, "unit_price": 19.9}]},
            "lines[0].unit_price",
            "decimal string",
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1, "unit_price": "19,90"}]},
            "lines[0].unit_price",
            "decimal string",
        ),
        ({"lines": [{"sku": "A", "quantity": 1, "gtin": "123"}]}, "lines[0].gtin", "GTIN"),
        (  # Arabic-Indic digits: digits to str.isdigit, not to a provider
            {"lines": [{"sku": "A", "quantity": 1, "gtin": "٠٦٤٣٠٠١٢٣٤٥٦٧٨"}]},
            "lines[0].gtin",
            "GTIN",
        ),
        (
            {"lines": [{"sku": "A", "quantity": 1, "unit_price": "١٩.٩٠"}]},
            "lines[0].unit_price",
            "decimal string",
        ),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"language": "xx"}, "language", "ISO 639-1"),
        ({"kind": "b2x"}, "kind", "d2c"),
        ({"ordered_at": "2026-11-20T10:00:00"}, "ordered_at", "time zone"),
        ({"delivery": {"type": "pickup_point"}}, "delivery", "pickup_point_id is required"),
        ({"not_before": "2026-12-02", "not_after": "2026-12-01"}, "not_after", "not_before"),
    ],
)
async def test_invalid_field_is_named_with_its_rule(
    gateway: TestClient[Any, Any], change: dict[str, Any], loc: str, words: str
) -> None:
    status, problem = await _post(gateway, order(**change))
    assert status == 422
    assert loc in _locs(problem), problem
    msg = next(e["msg"] for e in problem["errors"] if e["loc"] == loc)
    assert words.lower() in msg.lower()
    assert all("rule" in e for e in problem["errors"])


async def test_bad_country_code_is_named(gateway: TestClient[Any, Any]) -> None:
    body = order()
    body["address"]["country_code"] = "XX"
    status, problem = await _post(gateway, body)
    assert status == 422
    assert _locs(problem) == ["address.country_code"]
    assert "ISO 3166-1" in problem["errors"][0]["msg"]


@pytest.mark.parametrize("missing", ["external_id", "recipient", "address", "lines"])
async def test_required_fields(gateway: TestClient[Any, Any], missing: str) -> None:
    body = order()
    del body[missing]
    status, problem = await _post(gateway, body)
    assert status == 422
    assert _locs(problem) == [missing]


async def test_lowercase_codes_are_normalised(gateway: TestClient[Any, Any]) -> None:
    body = order("LOW-1", currency="eur")
    body["address"]["country_code"] = "fi"
    status, created = await _post(gateway, body, key="low")
    assert status == 201
    assert created["order"]["currency"] == "EUR"
    assert created["order"]["address"]["country_code"] == "FI"


async def test_malformed_json_is_400(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.post(
        "/v1/orders",
        data=b'{"external_id": ',
        headers={**auth(key="m"), "Content-Type": "application/json"},
    )
    problem = await read_json(resp)
    assert resp.status == 400
    assert resp.content_type == PROBLEM
    assert problem["code"] == "malformed-json"


async def test_json_that_is_not_an_object_is_422(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.post(
        "/v1/orders", data=b"[1, 2]", headers={**auth(key="m"), "Content-Type": "application/json"}
    )
    assert resp.status == 422
    assert (await read_json(resp))["errors"][0]["loc"] == "body"


async def test_wrong_content_type_is_415(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.post(
        "/v1/orders",
        data=orjson.dumps(order()),
        headers={**auth(key="ct"), "Content-Type": "text/plain"},
    )
    assert resp.status == 415
    assert resp.content_type == PROBLEM


async def test_body_over_one_mebibyte_is_413(gateway: TestClient[Any, Any]) -> None:
    big = order(metadata={"blob": "x" * (1024 * 1024)})
    resp = await gateway.post(
        "/v1/orders",
        data=orjson.dumps(big),
        headers={**auth(key="big"), "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert resp.content_type == PROBLEM
    assert (await read_json(resp))["code"] == "payload-too-large"


async def test_chunked_body_over_limit_is_413_too(gateway: TestClient[Any, Any]) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65536 * 2

    resp = await gateway.post(
        "/v1/orders",
        data=chunks(),
        headers={**auth(key="chunk"), "Content-Type": "application/json"},
    )
    assert resp.status == 413


async def test_missing_idempotency_key_is_400(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    resp = await gateway.post("/v1/orders", json=order(), headers=auth())
    problem = await read_json(resp)
    assert resp.status == 400
    assert problem["code"] == "idempotency-key-missing"
    assert problem["errors"][0]["loc"] == "header.Idempotency-Key"
    assert order_calls(logitrail) == []


async def test_unknown_path_and_method_are_problems(gateway: TestClient[Any, Any]) -> None:
    missing = await gateway.get("/v1/nothing-here", headers=auth())
    wrong = await gateway.delete("/v1/orders", headers=auth())
    assert (missing.status, missing.content_type) == (404, PROBLEM)
    assert (wrong.status, wrong.content_type) == (405, PROBLEM)


async def test_invalid_input_stores_nothing(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    await _post(gateway, order(lines=[]), key="bad")
    good = await gateway.post("/v1/orders", json=order("OK-1"), headers=auth(key="bad"))
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    assert good.status == 201  # the key was not consumed by the invalid body
    assert [o["external_id"] for o in listed["items"]] == ["OK-1"]


# authentication ----------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic a2V5LWZp", "Bearer "])
async def test_missing_or_wrong_client_key_is_401(
    gateway: TestClient[Any, Any], header: str | None
) -> None:
    headers = {"Idempotency-Key": "x"}
    if header is not None:
        headers["Authorization"] = header
    resp = await gateway.post("/v1/orders", json=order(), headers=headers)
    assert resp.status == 401
    assert resp.content_type == PROBLEM
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    listed = await gateway.get("/v1/orders", headers=headers)
    assert listed.status == 401


async def test_client_without_write_scope_is_403(
    make_gateway: Any, logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(
        clients=[{"id": "storefront-fi", "key_env": "KEY_FI", "scopes": ["orders:read"]}]
    )
    resp = await gateway.post("/v1/orders", json=order(), headers=auth(key="r"))
    assert resp.status == 403
    assert (await gateway.get("/v1/orders", headers=auth())).status == 200


async def test_pinning_a_route_needs_the_pin_scope(gateway: TestClient[Any, Any]) -> None:
    body = order("PIN-1", routing={"provider": "logitrail", "warehouse": "FI-VANTAA"})
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="pin"))
    assert resp.status == 403
    assert (await read_json(resp))["code"] == "pin-not-allowed"


async def test_client_with_pin_scope_routes_where_it_pins(make_gateway: Any) -> None:
    gateway = await make_gateway(
        clients=[
            {"id": "storefront-fi", "key_env": "KEY_FI", "scopes": ["orders:write", "routing:pin"]}
        ]
    )
    body = order("PIN-2", routing={"provider": "logitrail", "warehouse": "FI-VANTAA"})
    body["address"]["country_code"] = "DE"  # no rule takes Germany; the pin does
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="pin"))
    created = await read_json(resp)
    assert resp.status == 201
    assert created["route"]["rule"] == "pinned"


# request id --------------------------------------------------------------------


async def test_request_id_is_echoed(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"


async def test_request_id_is_generated_when_absent_or_unsafe(gateway: TestClient[Any, Any]) -> None:
    plain = await gateway.get("/healthz")
    unsafe = await gateway.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    problem = await gateway.get("/v1/orders")
    assert len(plain.headers["X-Request-ID"]) == 32
    assert unsafe.headers["X-Request-ID"] != "a b\tc"
    assert problem.status == 401
    assert problem.headers["X-Request-ID"]


async def test_a_whole_number_written_with_a_zero_fraction_is_that_integer(
    gateway: TestClient[Any, Any],
) -> None:
    """JSON has one kind of number, and the document says `integer`: 2.0 is 2 (a string or a
    fraction is still refused)."""
    body = order("WHOLE-1")
    body["lines"][0].update(quantity=2.0, weight_g=180.0)
    status, created = await _post(gateway, body, key="whole-1")
    assert status == 201, created
    assert (created["order"]["lines"][0]["quantity"], created["order"]["lines"][0]["weight_g"]) == (
        2,
        180,
    )
    for bad in (2.5, "2", True):
        body["lines"][0]["quantity"] = bad
        status, problem = await _post(gateway, body, key=f"whole-{bad}")
        assert status == 422, (bad, problem)
        assert _locs(problem) == ["lines[0].quantity"]
