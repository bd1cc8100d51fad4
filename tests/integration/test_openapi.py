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
