"""`/openapi.json`: a valid OpenAPI 3.1 document of every route, and real answers conform to it."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import ValidationError
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from gateway.api.spec import api_routes, operation_of
from tests.conftest import WEBHOOK_SECRET, auth, ca_order, order, read_json


async def _spec(gateway: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await gateway.get("/openapi.json")
    assert resp.status == 200
    spec: dict[str, Any] = await read_json(resp)
    return spec


def conforms(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Validate `body` against the schema the document gives for this answer."""
    answer = spec["paths"][path][method]["responses"].get(str(status))
    assert answer is not None, f"{method.upper()} {path} does not document {status}"
    ((_media, content),) = answer["content"].items()
    OAS31Validator({**content["schema"], "components": spec["components"]}).validate(body)


async def test_document_is_valid_openapi_3_1(gateway: TestClient[Any, Any]) -> None:
    spec = await _spec(gateway)
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises OpenAPIValidationError with the path of what is wrong


async def test_every_route_the_app_serves_is_in_the_document_and_described(
    gateway: TestClient[Any, Any],
) -> None:
    spec = await _spec(gateway)
    served = api_routes(gateway.server.app)
    undescribed = [f"{m.upper()} {p}" for p, m, r in served if operation_of(r) is None]
    assert not undescribed, (
        "add @describe(...) from gateway.api.spec beside these handlers: " + ", ".join(undescribed)
    )
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert documented == {(p, m) for p, m, _r in served}
    assert not any(p.startswith("/_sandbox/") for p, _m in documented)


async def test_operations_carry_body_headers_auth_and_path_parameters(
    gateway: TestClient[Any, Any],
) -> None:
    spec = await _spec(gateway)
    submit = spec["paths"]["/v1/orders"]["post"]
    body_schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/CanonicalOrder"}
    assert {"name": "Idempotency-Key", "in": "header", "required": True}.items() <= next(
        p for p in submit["parameters"] if p["name"] == "Idempotency-Key"
    ).items()
    assert submit["security"] == [{"clientKey": []}]
    assert {"201", "202", "400", "401", "409", "415", "422"} <= set(submit["responses"])
    assert set(submit["responses"]["201"]["headers"]) == {
        "X-Request-ID",
        "Location",
        "Idempotent-Replayed",
    }
    assert set(submit["responses"]["409"]["headers"]) == {"X-Request-ID", "Retry-After"}
    assert set(spec["components"]["headers"]) >= {"X-Request-ID", "Location", "Retry-After"}
    canonical = spec["components"]["schemas"]["CanonicalOrder"]
    assert canonical["additionalProperties"] is False  # unknown fields are rejected
    assert {"external_id", "recipient", "address", "lines"} <= set(canonical["required"])

    get_one = spec["paths"]["/v1/orders/{id}"]["get"]
    assert get_one["parameters"][0] == {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^ord_[0-9A-HJKMNP-TV-Z]{26}$"},
    }
    listing = spec["paths"]["/v1/orders"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "external_id",
        "status",
        "provider",
        "updated_since",
        "cursor",
        "limit",
        "late",
    }
    assert "security" not in spec["paths"]["/v1/webhooks/{provider}"]["post"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


async def test_real_answers_conform_to_the_document(gateway: TestClient[Any, Any]) -> None:
    spec = await _spec(gateway)

    resp = await gateway.post("/v1/orders", json=order("OAS-1"), headers=auth(key="oas-1"))
    created = await read_json(resp)
    assert resp.status == 201
    conforms(spec, "/v1/orders", "post", 201, created)
    resp = await gateway.post("/v1/orders", json=ca_order("OAS-2"), headers=auth(key="oas-2"))
    conforms(spec, "/v1/orders", "post", resp.status, await read_json(resp))

    resp = await gateway.get(f"/v1/orders/{created['id']}", headers=auth())
    one = await read_json(resp)
    assert one["history"]
    conforms(spec, "/v1/orders/{id}", "get", 200, one)
    resp = await gateway.get("/v1/orders?limit=1", headers=auth())
    page = await read_json(resp)
    assert page["next_cursor"] is not None
    conforms(spec, "/v1/orders", "get", 200, page)

    bad = order("OAS-3")
    bad["lines"][0]["quantity"] = 0
    bad["surprise"] = True
    resp = await gateway.post("/v1/orders", json=bad, headers=auth(key="oas-3"))
    problem = await read_json(resp)
    assert resp.status == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    conforms(spec, "/v1/orders", "post", 422, problem)
    resp = await gateway.get("/v1/orders/ord_nope", headers=auth())
    conforms(spec, "/v1/orders/{id}", "get", 404, await read_json(resp))

    resp = await gateway.post("/v1/routing/explain", json=ca_order("OAS-4"), headers=auth())
    conforms(spec, "/v1/routing/explain", "post", 200, await read_json(resp))
    resp = await gateway.get("/v1/providers", headers=auth())
    conforms(spec, "/v1/providers", "get", 200, await read_json(resp))
    resp = await gateway.get("/readyz")
    conforms(spec, "/readyz", "get", 200, await read_json(resp))

    raw = orjson.dumps({"id": "evt-oas", "data": {"id": 1, "status": "PICKED"}})
    signature = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    resp = await gateway.post("/v1/webhooks/logentic", data=raw, headers={"Signature": signature})
    conforms(spec, "/v1/webhooks/{provider}", "post", 200, await read_json(resp))


async def test_a_drifted_answer_would_not_conform(gateway: TestClient[Any, Any]) -> None:
    """The conformance check has teeth: an extra or missing member fails it."""
    spec = await _spec(gateway)
    resp = await gateway.post("/v1/orders", json=order("OAS-9"), headers=auth(key="oas-9"))
    view = await read_json(resp)
    for drifted in ({**view, "surprise": 1}, {k: v for k, v in view.items() if k != "status"}):
        with pytest.raises(ValidationError):
            conforms(spec, "/v1/orders", "post", 201, drifted)


async def test_every_schema_has_a_public_name(gateway: TestClient[Any, Any]) -> None:
    """No module path leaks into a schema name (`gateway__routing__evaluate__Decision`): each
    is the readable name a generated client gets as its type, and its title."""
    schemas = (await _spec(gateway))["components"]["schemas"]
    leaked = [name for name in schemas if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)]
    assert not leaked, leaked
    assert all(schema["title"] == name for name, schema in schemas.items())
    # The two decisions: the routing decision of an order, and the code of a return decision.
    assert schemas["RouteDecision"]["required"] == [
        "rule",
        "candidate",
        "provider",
        "warehouse",
        "queued",
    ]
    assert "to_shelf" in schemas["Decision"]["enum"]
    explanation = schemas["RoutingExplanation"]["properties"]["decision"]
    assert {"$ref": "#/components/schemas/RouteDecision"} in explanation["anyOf"]


def _refuses(spec: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    validator = OAS31Validator(
        {**schema, "components": spec["components"]}, format_checker=OAS31Validator.FORMAT_CHECKER
    )
    return not validator.is_valid(value)


def _param(spec: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    params = spec["paths"][path][method]["parameters"]
    schema: dict[str, Any] = next(p["schema"] for p in params if p["name"] == name)
    return schema


def _body(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = spec["paths"][path][method]["requestBody"]["content"]
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


async def test_what_the_api_refuses_the_document_refuses(gateway: TestClient[Any, Any]) -> None:
    """The requests schemathesis found refused though the document allowed them (a client
    generated from it would send them): each is now refused by the document as well."""
    spec = await _spec(gateway)
    created = await read_json(
        await gateway.post("/v1/orders", json=order("OAS-10"), headers=auth(key="oas-10"))
    )
    url = f"/v1/orders/{created['id']}"

    for key in ("", "with space", "k" * 256, "ä"):
        assert _refuses(spec, _param(spec, "/v1/orders", "post", "Idempotency-Key"), key), key
        resp = await gateway.post("/v1/orders", json=order("OAS-11"), headers=auth(key=key))
        assert resp.status == 400, key
    for path, name, value in (
        ("/v1/orders", "cursor", ""),
        ("/v1/orders", "cursor", "zzz"),
        ("/v1/returns", "cursor", ""),
        ("/v1/returns", "order_id", "not-an-order-id"),
        ("/v1/events", "after", ""),
        ("/v1/deliveries", "after", "-1"),
        ("/v1/orders", "updated_since", "2026-01-01 10:00:00Z"),
        ("/v1/orders", "provider", "bogus"),
    ):
        assert _refuses(spec, _param(spec, path, "get", name), value), (path, name, value)
        resp = await gateway.get(f"{path}?{name}={value}", headers=auth())
        assert resp.status == 400, (path, name, value)

    bad_lines = [{"sku": "A", "quantity": 1, "gtin": "0643001234567X"}]
    bodies: list[tuple[str, str, str, dict[str, Any]]] = [
        ("post", "/v1/orders", "/v1/orders", order("OAS-12", lines=bad_lines)),
        ("post", "/v1/routing/explain", "/v1/routing/explain", order("OAS-13", lines=bad_lines)),
        ("patch", "/v1/orders/{id}", url, {"lines": bad_lines}),
        ("patch", "/v1/orders/{id}", url, {}),
        ("patch", "/v1/orders/{id}", url, {"recipient": None}),
        ("patch", "/v1/orders/{id}", url, {"not_after": 1767225600}),  # not a date-time
        ("post", "/v1/returns", "/v1/returns", {"order_id": created["id"], "lines": []}),
        ("post", "/v1/returns", "/v1/returns", {"order_id": "", "remarks": "x"}),
    ]
    empty_country = order("OAS-14")
    empty_country["address"]["country_code"] = ""
    bodies.append(("post", "/v1/orders", "/v1/orders", empty_country))
    for i, (method, path, target, body) in enumerate(bodies):
        assert _refuses(spec, _body(spec, path, method), body), (path, body)
        resp = await gateway.request(method, target, json=body, headers=auth(key=f"oas-b{i}"))
        assert resp.status == 422, (path, body, await resp.text())

    # And what the document allows, the API takes: a trimmed id, a cursor it gave out.
    await gateway.post("/v1/orders", json=order("OAS-15"), headers=auth(key="oas-15"))
    page = await read_json(await gateway.get("/v1/orders?limit=1", headers=auth()))
    cursor = page["next_cursor"]
    for value in (cursor, f" {cursor} "):
        assert not _refuses(spec, _param(spec, "/v1/orders", "get", "cursor"), value)
    resp = await gateway.get(f"/v1/orders?limit=1&cursor={cursor}", headers=auth())
    assert resp.status == 200
