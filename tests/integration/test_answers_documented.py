"""Every operation of `/openapi.json` answers as the document says, on SQLite and PostgreSQL.

One scenario calls each documented operation at least once — reads, lists with a cursor,
submits and their replays, a rejection carrying its order or return, a dead letter retried, a
few problems — and validates each body against the schema the document gives for its status
and content type. A route added without a call here fails the last assertion.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_schema_validator import OAS31Validator

from gateway.sandbox.logitrail import Fault
from tests.conftest import (
    WEBHOOK_SECRET,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    eventually,
    order,
    read_json,
)

NOWHERE = "evt_01JD5X7W2N8Q3K4M5P6R7S8T9V"
"""An event id nobody issued."""


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    return store_url


@pytest.fixture
async def refusing_subscriber() -> AsyncIterator[str]:
    """A subscriber endpoint that is always down: every delivery to it dead-letters."""

    async def hook(_request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/hooks"))
    finally:
        await server.close()


class Caller:
    """Calls the gateway and checks each answer against the document, noting the operation."""

    def __init__(self, gateway: TestClient[Any, Any], spec: dict[str, Any]) -> None:
        self.gateway, self.spec = gateway, spec
        self.called: set[tuple[str, str]] = set()
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in spec["paths"]
        ]

    async def __call__(self, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        resp = await self.gateway.request(method, url, **kw)
        raw = await resp.read()
        assert resp.status == status, (method, url, raw)
        target = url.partition("?")[0]
        path = next(p for pattern, p in self._templates if pattern.match(target))
        answer = self.spec["paths"][path][method.lower()]["responses"].get(str(status))
        assert answer is not None, f"{method} {path} does not document {status}"
        self.called.add((path, method.lower()))
        if "content" not in answer:  # `/openapi.json`: checked as OpenAPI elsewhere
            return orjson.loads(raw)
        ((media, content),) = answer["content"].items()
        assert resp.headers["Content-Type"].startswith(media), (method, url, media)
        body = raw.decode() if media == "text/plain" else orjson.loads(raw)
        schema = {**content["schema"], "components": self.spec["components"]}
        OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER).validate(body)
        return body

    async def submit(self, path: str, body: Any, key: str, status: int = 201) -> Any:
        return await self("POST", path, status, json=body, headers=auth(key=key))


async def test_every_operation_answers_as_the_document_says(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    refusing_subscriber: str,
) -> None:
    subscriber = {
        "id": "oms",
        "client": "storefront-fi",
        "url": refusing_subscriber,
        "secret_env": "SUB_SECRET",
        "events": ["order.cancelled"],
        "max_attempts": 1,
    }
    gateway = await make_gateway(subscribers=[subscriber], events__dispatch_interval_s=0.02)
    spec = await read_json(await gateway.get("/openapi.json"))
    call = Caller(gateway, spec)
    for public in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        await call("GET", public)
    await call("GET", "/v1/providers", headers=auth())

    fi = await call.submit("/v1/orders", order("D-1"), "d1")
    await call.submit("/v1/orders", order("D-1"), "d1")  # a replay
    ca = await call.submit("/v1/orders", ca_order("D-2"), "d2")
    gone = await call.submit("/v1/orders", order("D-3"), "d3")
    other = await call.submit("/v1/orders", order("D-4"), "d4")
    refusal = {"code": "x.required", "message": "x is required"}
    logitrail.sandbox.inject(Fault(op="create", status=400, body=refusal))
    rejected = await call.submit("/v1/orders", order("D-5"), "d5", 422)
    assert rejected["order"]["status"] == "rejected"
    await call("GET", f"/v1/orders/{rejected['order']['id']}", headers=auth())
    await call("GET", f"/v1/orders/{ca['id']}", headers=auth())
    await call("GET", f"/v1/orders/ord_{NOWHERE[4:]}", 404, headers=auth())
    page = await call("GET", "/v1/orders?limit=1", headers=auth())
    assert page["next_cursor"] is not None
    url = f"/v1/orders?limit=1&cursor={page['next_cursor']}&provider=logitrail"
    await call("GET", url, headers=auth())
    await call("GET", "/v1/orders?limit=0", 400, headers=auth())
    change = {"not_after": "2030-12-24"}
    await call("PATCH", f"/v1/orders/{gone['id']}", json=change, headers=auth())
    await call("POST", f"/v1/orders/{gone['id']}/cancel", headers=auth())
    await call("POST", f"/v1/orders/{ca['id']}/refresh", headers=auth())
    await call("POST", "/v1/routing/explain", json=ca_order("D-6"), headers=auth())
    pre = await call.submit(
        "/v1/orders", order("D-7", hold_until="2099-01-01T00:00:00Z"), "d7", 202
    )
    hold = {"reason": "check address", "until": "2099-06-01T00:00:00Z"}
    await call("POST", f"/v1/orders/{pre['id']}/hold", json=hold, headers=auth())
    await call("POST", f"/v1/orders/{ca['id']}/hold", 409, json=hold, headers=auth())
    await call("POST", f"/v1/orders/{pre['id']}/release", 201, headers=auth())
    await call("POST", f"/v1/orders/{pre['id']}/release", 409, headers=auth())
    await call("GET", "/v1/orders?late=true", headers=auth())

    for shipped in (fi, other):
        logitrail.sandbox.advance(shipped["provider_order_id"], "processed")
        await call("POST", f"/v1/orders/{shipped['id']}/refresh", headers=auth())
    lines = [{"sku": "TSHIRT-M", "quantity": 1}]
    ret = {"order_id": fi["id"], "external_id": "RMA-D1", "lines": lines}
    kept = await call.submit("/v1/returns", ret, "r1")
    await call.submit("/v1/returns", ret, "r1")  # a replay
    back = await call.submit("/v1/returns", {"order_id": fi["id"], "lines": lines}, "r2")
    refusal = {"code": "r.no", "message": "no"}
    logitrail.sandbox.inject(Fault(op="return_create", status=400, body=refusal))
    refused = await call.submit("/v1/returns", {"order_id": other["id"]}, "r3", 422)
    assert refused["return"]["status"] == "rejected"
    await call("GET", f"/v1/returns/{kept['id']}", headers=auth())
    page = await call("GET", "/v1/returns?limit=1", headers=auth())
    assert page["next_cursor"] is not None
    await call(
        "GET", f"/v1/returns?order_id={fi['id']}&cursor={page['next_cursor']}", headers=auth()
    )
    decision = {"code": "to_shelf"}
    await call("POST", f"/v1/returns/{kept['id']}/decision", json=decision, headers=auth())
    await call("POST", f"/v1/returns/{back['id']}/cancel", headers=auth())
    await call("GET", f"/v1/orders/{fi['id']}/exchanges?limit=1", headers=auth())
    await call("GET", f"/v1/returns/{back['id']}/exchanges", headers=auth())
    await call("GET", f"/v1/returns/{back['id']}/exchanges", 404, headers=auth("storefront-se"))
    window = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    proposed = {"routing": {"default": {"provider": "logentic", "warehouse": "MTL"}}}
    await call("POST", "/v1/routing/replay", json=proposed | window, headers=auth())
    unknown = {"routing": {"default": {"provider": "nowhere", "warehouse": "X"}}}
    await call("POST", "/v1/routing/replay", 422, json=unknown | window, headers=auth())

    raw = orjson.dumps({"id": "evt-d", "data": {"id": 1, "status": "PICKED"}})
    signature = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    for _ in range(2):  # new, then a redelivery
        await call("POST", "/v1/webhooks/logentic", data=raw, headers={"Signature": signature})

    async def dead() -> Any:
        page = await read_json(await gateway.get("/v1/deliveries?state=dead", headers=auth()))
        return page["items"]

    [letter] = await eventually(dead)
    assert (await call("GET", "/v1/events?limit=500", headers=auth()))["items"]
    await call("GET", "/v1/events?after=2&limit=2", headers=auth())
    await call("GET", "/v1/deliveries?state=dead&subscriber=oms", headers=auth())
    await call("POST", f"/v1/deliveries/oms/{letter['event']['id']}/retry", headers=auth())
    await call("POST", f"/v1/deliveries/oms/{NOWHERE}/retry", 404, headers=auth())

    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert documented - call.called == set(), "add a call of these operations"
