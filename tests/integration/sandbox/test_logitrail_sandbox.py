"""The Logitrail sandbox seen from outside, over a real socket (docs/providers/logitrail.md)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.sandbox.logitrail import Fault, LogitrailSandbox, SandboxClient

MERCHANT = "M-1"
BOTH = "orders:read orders:manage"
FULL = SandboxClient("gateway", "s3cret", frozenset({"orders:read", "orders:manage"}))
MANAGE_ONLY = SandboxClient("writer", "w-secret", frozenset({"orders:manage"}))
HEX24 = re.compile(r"[0-9a-f]{24}")
PICKUP_POINT = "5f3c8a2b9d1e4f6a7b8c9d0e"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def order_json(merchants_order: Any = "SO-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchants_order": merchants_order,
        "customer": {
            "firstName": "Aino",
            "lastName": "Virtanen",
            "address": "Mannerheimintie 1",
            "postalCode": "00100",
            "city": "Helsinki",
            "email": "aino@example.fi",
        },
        "products": [{"qty": 2, "merchants_id": "SKU-1", "weight": 250, "dimensions": [1, 2, 3]}],
        "destination": "home",
        "language": "fi",
    }
    body.update(changes)
    return body


class _AnyStr:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __hash__(self) -> int:
        return 0


ANY_STR: Any = _AnyStr()


def basic(client: SandboxClient) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(client.client_id, client.client_secret)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> LogitrailSandbox:
    return LogitrailSandbox(
        clients=[FULL, MANAGE_ONLY], merchant_id=MERCHANT, token_ttl_s=300, clock=clock, seed=7
    )


@pytest.fixture
async def http(sandbox: LogitrailSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        TestServer(sandbox.app) as server,
        aiohttp.ClientSession(base_url=server.make_url("")) as session,
    ):
        yield session
        sandbox.release()


async def token_response(
    http: aiohttp.ClientSession, client: SandboxClient = FULL, scope: str | None = BOTH
) -> aiohttp.ClientResponse:
    form = {"grant_type": "client_credentials"} | ({} if scope is None else {"scope": scope})
    return await http.post("/realms/logitrail/token", data=form, headers=basic(client))


async def get_token(
    http: aiohttp.ClientSession, client: SandboxClient = FULL, scope: str | None = BOTH
) -> str:
    response = await token_response(http, client, scope)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


def api_headers(token: str, merchant: str | None = MERCHANT) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if merchant is not None:
        headers["X-Logitrail-Merchant-ID"] = merchant
    return headers


@pytest.fixture
async def headers(http: aiohttp.ClientSession) -> dict[str, str]:
    return api_headers(await get_token(http))


async def create(
    http: aiohttp.ClientSession, headers: dict[str, str], body: dict[str, Any] | None = None
) -> str:
    response = await http.post("/orders/_create", json=body or order_json(), headers=headers)
    assert response.status == 201, await response.text()
    order_id: str = (await response.json())["order_id"]
    return order_id


async def status_and_json(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    return response.status, await response.json()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --- token endpoint -------------------------------------------------------------------------


async def test_token_issued_for_good_credentials(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox
) -> None:
    response = await token_response(http)
    body = await response.json()
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == BOTH
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 20
    assert body["access_token"] != await get_token(http)
    assert sandbox.token_requests == 2


@pytest.mark.parametrize(
    "auth",
    [
        basic(SandboxClient("gateway", "wrong", frozenset())),
        basic(SandboxClient("nobody", "s3cret", frozenset())),
        {"Authorization": "Basic not-base64!"},
        {},
    ],
    ids=["wrong-secret", "unknown-client", "garbled", "missing"],
)
async def test_token_refused_for_bad_credentials(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, auth: dict[str, str]
) -> None:
    form = {"grant_type": "client_credentials", "scope": BOTH}
    response = await http.post("/realms/logitrail/token", data=form, headers=auth)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert sandbox.token_requests == 1


@pytest.mark.parametrize("form", [{"scope": BOTH}, {"grant_type": "password", "scope": BOTH}])
async def test_token_refuses_other_grant_types(
    http: aiohttp.ClientSession, form: dict[str, str]
) -> None:
    response = await http.post("/realms/logitrail/token", data=form, headers=basic(FULL))
    assert await status_and_json(response) == (
        400,
        {"error": "unsupported_grant_type", "error_description": ANY_STR},
    )


async def test_token_scope_outside_allowlist_is_invalid_scope(http: aiohttp.ClientSession) -> None:
    response = await token_response(http, MANAGE_ONLY, "orders:manage orders:read products:read")
    assert await status_and_json(response) == (
        400,
        {
            "error": "invalid_scope",
            "error_description": "Invalid scopes: orders:read products:read",
        },
    )


async def test_token_without_scope_grants_nothing(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox
) -> None:
    response = await token_response(http, scope=None)
    body = await response.json()
    assert response.status == 200
    assert body["scope"] == ""
    refused = await http.post(
        "/orders/_create", json=order_json(), headers=api_headers(body["access_token"])
    )
    assert await status_and_json(refused) == (
        403,
        {"code": "access_denied", "message": "token lacks scope orders:manage"},
    )
    assert sandbox.orders == {}


async def test_token_expires_by_the_injected_clock(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    headers = api_headers(await get_token(http))
    clock.now += 299
    assert (await http.get("/orders", headers=headers)).status == 200
    clock.now += 1
    response = await http.get("/orders", headers=headers)
    assert (await status_and_json(response))[1]["code"] == "unauthorized"
    assert response.status == 401


async def test_token_lifetime_can_be_changed_for_new_tokens(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, clock: FakeClock
) -> None:
    sandbox.token_ttl_s = 60
    response = await token_response(http)
    assert (await response.json())["expires_in"] == 60
    headers = api_headers((await response.json())["access_token"])
    clock.now += 60
    assert (await http.get("/orders", headers=headers)).status == 401


async def test_expire_tokens_invalidates_every_issued_token(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.expire_tokens()
    assert (await http.get("/orders", headers=headers)).status == 401
    fresh = api_headers(await get_token(http))
    assert (await http.get("/orders", headers=fresh)).status == 200


# --- API authentication, merchant, scopes ---------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic Z2F0ZXdheTpzM2NyZXQ=", "Bearer "]
)
async def test_api_call_without_live_bearer_token_is_401(
    http: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {"X-Logitrail-Merchant-ID": MERCHANT}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await http.get("/orders", headers=headers)
    status, body = await status_and_json(response)
    assert (status, body["code"]) == (401, "unauthorized")
    assert body["message"]


async def test_authentication_header_spelling_of_the_docs_is_accepted(
    http: aiohttp.ClientSession,
) -> None:
    token = await get_token(http)
    headers = {"Authentication": f"Bearer {token}", "X-Logitrail-Merchant-ID": MERCHANT}
    assert (await http.get("/orders", headers=headers)).status == 200


@pytest.mark.parametrize("merchant", [None, "", "M-2"])
async def test_merchant_header_must_name_the_configured_merchant(
    http: aiohttp.ClientSession, merchant: str | None
) -> None:
    response = await http.get("/orders", headers=api_headers(await get_token(http), merchant))
    status, body = await status_and_json(response)
    assert (status, body["code"]) == (403, "access_denied")


async def test_manage_scope_does_not_imply_read(http: aiohttp.ClientSession) -> None:
    headers = api_headers(await get_token(http, MANAGE_ONLY, "orders:manage"))
    order_id = await create(http, headers)
    for path in (f"/orders/{order_id}", "/orders?merchants_order=SO-1"):
        response = await http.get(path, headers=headers)
        assert await status_and_json(response) == (
            403,
            {"code": "access_denied", "message": "token lacks scope orders:read"},
        )


async def test_read_scope_cannot_write(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox
) -> None:
    headers = api_headers(await get_token(http, FULL, "orders:read"))
    response = await http.post("/orders/_create", json=order_json(), headers=headers)
    assert await status_and_json(response) == (
        403,
        {"code": "access_denied", "message": "token lacks scope orders:manage"},
    )
    assert sandbox.orders == {}


# --- create validation ----------------------------------------------------------------------


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value

    return change


TWO_LINES = [{"qty": 1, "merchants_id": "A", "source_id": "l1"}, {"qty": 1, "merchants_id": "B"}]

INVALID = [
    (_without("customer"), "customer.required"),
    (_set("customer", "Aino"), "customer.required"),
    (_without("customer.firstName"), "customer.firstName.required"),
    (_set("customer.lastName", ""), "customer.lastName.required"),
    (_without("customer.address"), "customer.address.required"),
    (_set("customer.postalCode", 100), "customer.postalCode.required"),
    (_without("customer.city"), "customer.city.required"),
    (_set("customer.countryCode", "FIN"), "customer.countryCode.invalid"),
    (_without("products"), "products.required"),
    (_set("products", []), "products.required"),
    (_set("products", {"qty": 1}), "products.invalid"),
    (_set("products", ["SKU-1"]), "product.invalid"),
    (_without("products.0.qty"), "product.qty.required"),
    (_set("products.0.qty", 0), "product.qty.invalid"),
    (_set("products.0.qty", "2"), "product.qty.invalid"),
    (_set("products.0.qty", 1.5), "product.qty.invalid"),
    (_without("products.0.merchants_id"), "product.merchants_id.required"),
    (_set("products.0.merchants_id", ""), "product.merchants_id.required"),
    (_set("products.0.weight", -1), "product.weight.invalid"),
    (_set("products.0.dimensions", "10 x 20"), "product.dimensions.invalid"),
    (_set("products.0.dimensions", [1, 2]), "product.dimensions.invalid"),
    (_set("products", TWO_LINES), "item_source_id_missing"),
    (_set("destination", "pickup"), "destination.invalid"),
    (_set("destination", PICKUP_POINT.upper()), "destination.invalid"),
    (_set("language", "de"), "language.invalid"),
    (_set("currency", "eur"), "currency.invalid"),
    (_set("tags", "vip"), "tags.invalid"),
    (_set("merchants_order", ""), "merchants_order.invalid"),
]


@pytest.mark.parametrize(("change", "code"), INVALID, ids=[code for _, code in INVALID])
async def test_create_rejects_invalid_order_json(
    http: aiohttp.ClientSession,
    sandbox: LogitrailSandbox,
    headers: dict[str, str],
    change: Callable[[dict[str, Any]], None],
    code: str,
) -> None:
    body = order_json()
    change(body)
    response = await http.post("/orders/_create", json=body, headers=headers)
    status, answer = await status_and_json(response)
    assert (status, answer["code"]) == (400, code)
    assert answer["message"]
    assert sandbox.orders == {}
    assert sandbox.count("create", status=400) == 1


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]"])
async def test_create_with_malformed_body_is_unknown(
    http: aiohttp.ClientSession, headers: dict[str, str], raw: bytes
) -> None:
    response = await http.post("/orders/_create", data=raw, headers=headers)
    status, body = await status_and_json(response)
    assert (status, body["code"]) == (400, "unknown")


VALID = [
    {},
    {"destination": "letter"},
    {"destination": PICKUP_POINT},
    {"products": [{"qty": 1, "merchants_id": "S", "dimensions": "100 x 20 x 3.5"}]},
    {"products": None, "products_all": [{"qty": 3, "merchants_id": "S"}]},
    {"products": [{"qty": 1, "merchants_id": "A", "source_id": "1"}] * 2},
    {"language": "sv", "currency": "EUR", "tags": ["vip"], "not_before": "2025-01-01"},
]


@pytest.mark.parametrize("changes", VALID)
async def test_create_accepts_valid_variants(
    http: aiohttp.ClientSession, headers: dict[str, str], changes: dict[str, Any]
) -> None:
    response = await http.post("/orders/_create", json=order_json(**changes), headers=headers)
    assert response.status == 201, await response.text()


# --- order lifecycle ------------------------------------------------------------------------


async def test_create_then_confirm_gives_tracking(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    response = await http.post("/orders/_create", json=order_json("SO-9"), headers=headers)
    status, created = await status_and_json(response)
    assert status == 201
    assert created["success"] is True
    assert HEX24.fullmatch(created["order_id"])
    order_id = created["order_id"]

    status, got = await status_and_json(await http.get(f"/orders/{order_id}", headers=headers))
    assert status == 200
    order = got["order"]
    assert (order["id"], order["merchants_order"], order["status"]) == (order_id, "SO-9", "passive")
    assert order["tracking_code"] is None
    assert order["customer"]["city"] == "Helsinki"
    assert order["customer"]["countryCode"] == "FI"
    assert order["products"][0]["merchants_id"] == "SKU-1"
    assert order["created_at"].endswith("Z")

    response = await http.post(f"/orders/{order_id}/_confirm", headers=headers)
    status, confirmed = await status_and_json(response)
    assert status == 200
    assert confirmed["success"] is True
    assert confirmed["order_id"] == order_id
    assert re.fullmatch(r"JJFI\d+", confirmed["tracking_code"])
    assert confirmed["tracking_code"] in confirmed["tracking_url"]

    order = (await (await http.get(f"/orders/{order_id}", headers=headers)).json())["order"]
    assert order["status"] == "confirmed"
    assert order["tracking_code"] == confirmed["tracking_code"]
    assert sandbox.orders[order_id].status == "confirmed"

    again = await http.post(f"/orders/{order_id}/_confirm", headers=headers)
    status, body = await status_and_json(again)
    assert (status, body["code"]) == (400, "order_not_passive")


async def test_merchants_order_object_form_is_stored_by_its_id(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    order_id = await create(http, headers, order_json({"id": "SO-7", "time": "2025-01-01"}))
    assert [o.id for o in sandbox.orders_by_merchant_order("SO-7")] == [order_id]


async def test_update_replaces_order_json_until_processing(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    order_id = await create(http, headers)
    changed = order_json(customer={**order_json()["customer"], "city": "Espoo"})
    response = await http.post(f"/orders/{order_id}", json=changed, headers=headers)
    assert await status_and_json(response) == (200, {"success": True, "order_id": order_id})
    order = (await (await http.get(f"/orders/{order_id}", headers=headers)).json())["order"]
    assert order["customer"]["city"] == "Espoo"

    invalid = await http.post(f"/orders/{order_id}", json=order_json(products=[]), headers=headers)
    assert (await invalid.json())["code"] == "products.required"

    sandbox.advance(order_id, "processing")
    response = await http.post(f"/orders/{order_id}", json=changed, headers=headers)
    status, body = await status_and_json(response)
    assert (status, body["code"]) == (400, "order_already_processing")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders/{id}"),
        ("POST", "/orders/{id}"),
        ("POST", "/orders/{id}/_confirm"),
        ("DELETE", "/orders/{id}"),
    ],
)
async def test_unknown_order_is_404(
    http: aiohttp.ClientSession, headers: dict[str, str], method: str, path: str
) -> None:
    url = path.format(id="0" * 24)
    response = await http.request(method, url, json=order_json(), headers=headers)
    status, body = await status_and_json(response)
    assert (status, body["code"]) == (404, "not_found")


async def test_find_by_merchants_order(
    http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    first = await create(http, headers, order_json("SO-1"))
    await create(http, headers, order_json("SO-2"))
    second = await create(http, headers, order_json("SO-1"))
    response = await http.get("/orders", params={"merchants_order": "SO-1"}, headers=headers)
    status, body = await status_and_json(response)
    assert status == 200
    assert [o["id"] for o in body["orders"]] == [first, second]
    assert {o["merchants_order"] for o in body["orders"]} == {"SO-1"}
    assert {"status", "tracking_code", "tracking_url"} <= body["orders"][0].keys()
    none = await http.get("/orders", params={"merchants_order": "SO-404"}, headers=headers)
    assert await none.json() == {"orders": []}


async def test_list_pages_with_offset_limit_and_status(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    ids = [await create(http, headers, order_json(f"SO-{n}")) for n in range(5)]
    sandbox.advance(ids[3], "processed")

    async def listed(**params: str) -> list[str]:
        response = await http.get("/orders", params=params, headers=headers)
        assert response.status == 200
        return [o["id"] for o in (await response.json())["orders"]]

    assert await listed() == ids
    assert await listed(offset="1", limit="2") == ids[1:3]
    assert await listed(status="processed") == [ids[3]]
    for params, code in [
        ({"limit": "0"}, "limit.invalid"),
        ({"limit": "1001"}, "limit.invalid"),
        ({"offset": "-1"}, "offset.invalid"),
        ({"status": "shipped"}, "status.invalid"),
    ]:
        response = await http.get("/orders", params=params, headers=headers)
        assert (response.status, (await response.json())["code"]) == (400, code)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("passive", "deleted"),
        ("confirmed", "cancelled"),
        ("waiting_products", "cancelled"),
        ("problem", "cancelled"),
        ("processing", "order_already_processing"),
        ("processed", "order_already_processed"),
        ("returned", "order_already_processed"),
        ("cancelled", "order_already_cancelled"),
        ("deleted", "order_already_cancelled"),
    ],
)
async def test_cancel_rules(
    http: aiohttp.ClientSession,
    sandbox: LogitrailSandbox,
    headers: dict[str, str],
    status: str,
    outcome: str,
) -> None:
    order_id = await create(http, headers)
    sandbox.advance(order_id, status)
    answer, body = await status_and_json(await http.delete(f"/orders/{order_id}", headers=headers))
    if outcome.startswith("order_"):
        assert (answer, body["code"]) == (400, outcome)
        assert sandbox.orders[order_id].status == status
    else:
        assert (answer, body) == (200, {"success": True})
        assert sandbox.orders[order_id].status == outcome


def test_advance_of_unknown_order_raises(sandbox: LogitrailSandbox) -> None:
    with pytest.raises(KeyError):
        sandbox.advance("0" * 24, "confirmed")


async def test_advance_refuses_unknown_status(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    order_id = await create(http, headers)
    with pytest.raises(ValueError, match="shipped"):
        sandbox.advance(order_id, "shipped")
    sandbox.advance(order_id, "processed")
    assert sandbox.orders[order_id].status == "processed"
    assert sandbox.orders[order_id].tracking_code is not None


async def test_unknown_route_and_wrong_method_answer_json_with_correlation_id(
    http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    missing = await http.get("/nowhere", headers=headers)
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")
    wrong = await http.put("/orders/" + "0" * 24, headers=headers)
    assert (wrong.status, (await wrong.json())["code"]) == (405, "method_not_allowed")
    ok = await http.get("/orders", headers=headers)
    for response in (missing, wrong, ok):
        assert response.content_type == "application/json"
        assert uuid.UUID(response.headers["x-correlation-id"])
    assert missing.headers["x-correlation-id"] != ok.headers["x-correlation-id"]


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"op": "ship"}, "unknown op"),
        ({"count": 0}, "count"),
        ({"probability": 1.5}, "probability"),
        ({"status": 42}, "status"),
        ({"mix": []}, "mix"),
        ({"mix": ["timeout"]}, "delay_s"),
        ({"mix": [500, "later"]}, "later"),
    ],
)
def test_fault_rejects_nonsense(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)


async def test_status_fault_answers_without_performing_and_consumes_count(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    fault = sandbox.inject(Fault(op="create", status=429, retry_after="2", count=2))
    for _ in range(2):
        response = await http.post("/orders/_create", json=order_json(), headers=headers)
        assert await status_and_json(response) == (
            429,
            {"code": "unknown", "message": "injected fault"},
        )
        assert response.headers["Retry-After"] == "2"
        assert uuid.UUID(response.headers["x-correlation-id"])
    assert sandbox.orders == {}
    assert fault.remaining == 0
    await create(http, headers)
    assert len(sandbox.orders) == 1
    assert sandbox.count("create", status=429) == 2
    assert sandbox.count("create", status=201) == 1


async def test_status_fault_with_custom_body_and_http_date_retry_after(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    sandbox.inject(Fault(op="create", status=503, retry_after=date, body={"code": "maintenance"}))
    response = await http.post("/orders/_create", json=order_json(), headers=headers)
    assert await status_and_json(response) == (503, {"code": "maintenance"})
    assert response.headers["Retry-After"] == date


async def test_unlimited_fault_only_hits_its_op(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    fault = sandbox.inject(Fault(op="find", status=502, count=None))
    for _ in range(4):
        assert (await http.get("/orders", headers=headers)).status == 502
    order_id = await create(http, headers)
    assert (await http.get(f"/orders/{order_id}", headers=headers)).status == 200
    assert fault.remaining is None
    sandbox.clear_faults()
    assert (await http.get("/orders", headers=headers)).status == 200


async def test_any_op_fault_hits_the_token_endpoint_too(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox
) -> None:
    sandbox.inject(Fault(status=503))
    assert (await token_response(http)).status == 503
    assert (await token_response(http)).status == 200
    assert sandbox.token_requests == 2


async def _affected_pattern(seed: int) -> tuple[list[bool], Fault]:
    sandbox = LogitrailSandbox(clients=[FULL], merchant_id=MERCHANT, seed=seed)
    fault = sandbox.inject(Fault(op="token", status=500, count=100, probability=0.5))
    async with (
        TestServer(sandbox.app) as server,
        aiohttp.ClientSession(base_url=server.make_url("")) as http,
    ):
        pattern = [(await token_response(http)).status == 500 for _ in range(40)]
    return pattern, fault


async def test_probability_is_seeded_and_only_affected_calls_consume_count() -> None:
    pattern, fault = await _affected_pattern(seed=11)
    affected = sum(pattern)
    assert 5 < affected < 35
    assert fault.remaining == 100 - affected
    again, _ = await _affected_pattern(seed=11)
    assert again == pattern
    other, _ = await _affected_pattern(seed=12)
    assert other != pattern


async def test_delay_fault_answers_normally_after_the_delay(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", delay_s=0.3))
    started = time.monotonic()
    await create(http, headers)
    assert time.monotonic() - started >= 0.3
    assert sandbox.count("create", status=201) == 1


async def test_hold_blocks_concurrent_calls_until_released(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", hold=True, count=None))
    calls = [asyncio.create_task(create(http, headers, order_json(f"SO-{n}"))) for n in range(5)]
    await sandbox.wait_held("create", 5)
    assert sandbox.orders == {}
    assert sandbox.count("create") == 0
    assert not any(call.done() for call in calls)
    sandbox.release("create")
    order_ids = await asyncio.gather(*calls)
    assert set(order_ids) == set(sandbox.orders)
    assert sandbox.count("create", status=201) == 5


async def test_release_of_one_op_leaves_other_held_calls(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(hold=True, count=None))
    creating = asyncio.create_task(create(http, headers))
    finding = asyncio.create_task(http.get("/orders", headers=headers))
    await sandbox.wait_held("create")
    await sandbox.wait_held("find")
    sandbox.release("find")
    assert (await finding).status == 200
    assert not creating.done()
    assert sandbox.held("create") == 1
    sandbox.release()
    assert await creating in sandbox.orders


async def test_wait_held_times_out_when_nothing_is_held(sandbox: LogitrailSandbox) -> None:
    with pytest.raises(TimeoutError):
        await sandbox.wait_held("create", timeout=0.05)


async def test_hold_after_commits_before_the_answer(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", hold=True, after=True))
    call = asyncio.create_task(create(http, headers, order_json("SO-held")))
    await sandbox.wait_held("create")
    assert len(sandbox.orders_by_merchant_order("SO-held")) == 1
    assert not call.done()
    sandbox.release()
    assert [await call] == [o.id for o in sandbox.orders_by_merchant_order("SO-held")]


async def test_held_call_still_completes_after_its_client_gave_up(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", hold=True))
    with pytest.raises(TimeoutError):
        await http.post(
            "/orders/_create",
            json=order_json("SO-late"),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert sandbox.held("create") == 1
    assert sandbox.orders == {}
    sandbox.release()
    await eventually(lambda: sandbox.count("create", status=201) == 1)
    assert len(sandbox.orders_by_merchant_order("SO-late")) == 1


async def test_reset_before_the_op_is_a_connection_error_without_effect(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", reset=True))
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.post("/orders/_create", json=order_json(), headers=headers)
    assert sandbox.orders == {}
    assert sandbox.requests[-1].status == 0
    assert sandbox.count("create", status=0) == 1
    await create(http, headers)


async def test_reset_after_the_op_loses_the_answer_of_a_created_order(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", reset=True, after=True))
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.post("/orders/_create", json=order_json("SO-lost"), headers=headers)
    assert len(sandbox.orders_by_merchant_order("SO-lost")) == 1
    assert sandbox.count("create", status=0) == 1


async def test_delay_after_the_op_times_out_the_client_but_creates_the_order(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", delay_s=1.0, after=True))
    with pytest.raises(TimeoutError):
        await http.post(
            "/orders/_create",
            json=order_json("SO-slow"),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=0.3),
        )
    assert len(sandbox.orders_by_merchant_order("SO-slow")) == 1
    await eventually(lambda: sandbox.count("create", status=201) == 1)


async def test_status_after_the_op_replaces_the_answer_of_a_created_order(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", status=502, after=True))
    response = await http.post("/orders/_create", json=order_json("SO-502"), headers=headers)
    assert response.status == 502
    assert len(sandbox.orders_by_merchant_order("SO-502")) == 1


async def test_mix_picks_statuses_and_timeouts_per_call(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    sandbox.inject(Fault(op="create", count=None, mix=[500, 503, "timeout"], delay_s=1.0))
    outcomes: list[int | str] = []
    for n in range(12):
        try:
            response = await http.post(
                "/orders/_create",
                json=order_json(f"SO-{n}"),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
        except TimeoutError:
            outcomes.append("timeout")
            assert len(sandbox.orders_by_merchant_order(f"SO-{n}")) == 1
        else:
            outcomes.append(response.status)
            assert sandbox.orders_by_merchant_order(f"SO-{n}") == []
    assert set(outcomes) == {500, 503, "timeout"}
    assert len(sandbox.orders) == outcomes.count("timeout")
    await eventually(lambda: sandbox.count("create") == 12)
    assert sandbox.count("create", status=201) == outcomes.count("timeout")


# --- control API ----------------------------------------------------------------------------


async def test_control_api_injects_lists_and_clears_faults(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    spec = {"op": "create", "status": 503, "retry_after": "1"}
    response = await http.post("/_control/faults", json=spec)
    status, fault = await status_and_json(response)
    assert status == 201
    assert fault["id"] == sandbox.faults[0].id
    assert (fault["op"], fault["status"], fault["remaining"]) == ("create", 503, 1)

    refused = await http.post("/orders/_create", json=order_json(), headers=headers)
    assert (refused.status, refused.headers["Retry-After"]) == (503, "1")
    listed = await (await http.get("/_control/faults")).json()
    assert [(f["id"], f["remaining"]) for f in listed] == [(fault["id"], 0)]

    cleared = await http.delete("/_control/faults")
    assert cleared.status == 200
    assert sandbox.faults == []
    assert [r.op for r in sandbox.requests] == ["token", "create"]


@pytest.mark.parametrize(
    "spec", [{"op": "ship"}, {"status": "503"}, {"bogus": 1}, {"mix": ["timeout"]}, [1]]
)
async def test_control_api_refuses_invalid_faults(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, spec: Any
) -> None:
    response = await http.post("/_control/faults", json=spec)
    assert (response.status, (await response.json())["code"]) == (400, "invalid_fault")
    assert sandbox.faults == []


async def test_control_api_releases_held_calls_and_expires_tokens(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    await http.post("/_control/faults", json={"op": "create", "hold": True})
    call = asyncio.create_task(create(http, headers))
    await sandbox.wait_held("create")
    response = await http.post("/_control/release", json={"op": "create"})
    assert await response.json() == {"success": True, "released": 1}
    assert await call in sandbox.orders

    assert (await http.post("/_control/expire-tokens")).status == 200
    assert (await http.get("/orders", headers=headers)).status == 401


async def test_control_api_lists_requests_and_orders_and_moves_status(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, headers: dict[str, str]
) -> None:
    order_id = await create(http, headers)
    records = await (await http.get("/_control/requests")).json()
    assert [(r["op"], r["status"]) for r in records] == [("token", 200), ("create", 201)]
    assert records[1]["headers"]["authorization"] == "Bearer <redacted>"
    assert records[1]["body"]["merchants_order"] == "SO-1"
    tokens = await (await http.get("/_control/requests", params={"op": "token"})).json()
    assert [r["op"] for r in tokens] == ["token"]

    orders = await (await http.get("/_control/orders")).json()
    assert [(o["id"], o["status"]) for o in orders] == [(order_id, "passive")]
    moved = await http.post(f"/_control/orders/{order_id}/status", json={"status": "processed"})
    assert moved.status == 200
    assert sandbox.orders[order_id].status == "processed"
    bad = await http.post(f"/_control/orders/{order_id}/status", json={"status": "lost"})
    assert bad.status == 400
    assert sandbox.count("*") == 2


# --- records --------------------------------------------------------------------------------


async def test_records_redact_credentials_and_keep_what_was_answered(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox, clock: FakeClock
) -> None:
    token = await get_token(http)
    headers = api_headers(token)
    await create(http, headers)
    await http.post("/orders/_create", json=order_json(), headers={"X-Logitrail-Merchant-ID": "M"})
    await http.get("/orders", params={"merchants_order": "SO-1"}, headers=headers)

    token_call, created, refused, found = sandbox.requests
    assert (token_call.op, token_call.method, token_call.path) == (
        "token",
        "POST",
        "/realms/logitrail/token",
    )
    assert token_call.headers["authorization"] == "Basic <redacted>"
    assert token_call.body == {"grant_type": "client_credentials", "scope": BOTH}
    assert (created.op, created.status, created.body) == ("create", 201, order_json())
    assert created.headers["authorization"] == "Bearer <redacted>"
    assert created.headers["x-logitrail-merchant-id"] == MERCHANT
    assert all(name == name.lower() for name in created.headers)
    assert (refused.op, refused.status) == ("create", 401)
    assert (found.op, found.path, found.query) == ("find", "/orders", {"merchants_order": "SO-1"})
    assert created.at == clock.now
    dump = repr(sandbox.requests)
    assert token not in dump
    assert FULL.client_secret not in dump


async def test_records_every_request_including_unknown_routes(
    http: aiohttp.ClientSession, sandbox: LogitrailSandbox
) -> None:
    await http.get("/nowhere")
    assert [(r.op, r.path, r.status) for r in sandbox.requests] == [("unknown", "/nowhere", 404)]


async def test_mounted_under_a_prefix(sandbox: LogitrailSandbox) -> None:
    parent = web.Application()
    parent.add_subapp("/_sandbox/logitrail", sandbox.app)
    async with (
        TestServer(parent) as server,
        aiohttp.ClientSession(base_url=server.make_url("")) as http,
    ):
        form = {"grant_type": "client_credentials", "scope": BOTH}
        response = await http.post(
            "/_sandbox/logitrail/realms/logitrail/token", data=form, headers=basic(FULL)
        )
        headers = api_headers((await response.json())["access_token"])
        created = await http.post(
            "/_sandbox/logitrail/orders/_create", json=order_json(), headers=headers
        )
        assert created.status == 201
        missing = await http.get("/_sandbox/logitrail/nowhere", headers=headers)
        assert (missing.status, (await missing.json())["code"]) == (404, "not_found")
        assert "x-correlation-id" in missing.headers
        records = await (await http.get("/_sandbox/logitrail/_control/requests")).json()
    assert [(r["op"], r["path"]) for r in records] == [
        ("token", "/realms/logitrail/token"),
        ("create", "/orders/_create"),
        ("unknown", "/nowhere"),
    ]
