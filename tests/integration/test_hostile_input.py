"""Hostile and careless input: a 4xx problem naming the parameter or field, never a 500.

Query parameters, path values, Authorization bytes and every text field a provider receives;
the metadata limits. Every test runs on SQLite and on PostgreSQL, whose refusals (NUL,
64-bit overflow) used to surface as 500s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.model.query import MAX_SEQUENCE, encode_cursor
from tests.conftest import (
    FLEXPORT_RULES,
    FlexportHandle,
    SandboxHandle,
    auth,
    b2b_order,
    order,
    order_calls,
    read_json,
)
from tests.integration.shipping import ship_at_logitrail

PROBLEM = "application/problem+json"
Gateway = TestClient[Any, Any]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def _locs(problem: dict[str, Any]) -> set[str]:
    return {e["loc"] for e in problem.get("errors", [])}


async def _problem(resp: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await read_json(resp)
    assert resp.status == status, body
    assert resp.content_type == PROBLEM
    return body


async def _submit(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=body["external_id"]))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    return created


# Authorization ----------------------------------------------------------------------------


async def _raw_get(gateway: Gateway, path: str, header: bytes) -> bytes:
    """A request whose Authorization bytes no HTTP client library would send."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    writer.write(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        b"Authorization: " + header + b"\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("key", [b"Bearer \xff\xfe\xfd", b"Bearer key-\xc3", b"\xff Bearer x"])
async def test_an_authorization_that_is_not_utf8_is_401_like_a_wrong_key(
    gateway: Gateway, key: bytes
) -> None:
    wrong = await _raw_get(gateway, "/v1/orders", b"Bearer wrong-key")
    answer = await _raw_get(gateway, "/v1/orders", key)

    assert answer.startswith(b"HTTP/1.1 401 ")
    body = orjson.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == "unauthorized"
    if key.startswith(b"Bearer"):  # the same answer as a key that is merely wrong
        assert body["detail"] == orjson.loads(wrong.partition(b"\r\n\r\n")[2])["detail"]


# query parameters ---------------------------------------------------------------------------

_FORGED = encode_cursor("ord_\x00")  # the shape of our cursors around a NUL
_FORGED_RETURN = encode_cursor("ret_\x00")


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/v1/orders?limit=%C2%B2", "query.limit"),  # '²' passes str.isdigit, not int()
        ("/v1/orders?limit=" + "9" * 5000, "query.limit"),
        ("/v1/orders?limit=+5", "query.limit"),
        ("/v1/orders?limit=201", "query.limit"),
        ("/v1/returns?limit=" + "9" * 5000, "query.limit"),
        ("/v1/events?limit=%C2%B2", "query.limit"),
        ("/v1/events?after=" + "9" * 5000, "query.after"),
        (f"/v1/events?after={MAX_SEQUENCE + 1}", "query.after"),  # overflows SQLite's integer
        (f"/v1/deliveries?after={MAX_SEQUENCE + 1}", "query.after"),
        ("/v1/deliveries?limit=0", "query.limit"),
        ("/v1/deliveries?state=lost", "query.state"),
        ("/v1/orders?updated_since=0001-01-01T00:00:00%2B01:00", "query.updated_since"),
        ("/v1/orders?updated_since=9999-12-31T23:59:59-01:00", "query.updated_since"),
        ("/v1/orders?updated_since=2026-11-20T10:00:00", "query.updated_since"),
        ("/v1/orders?external_id=SHOP%001001", "query.external_id"),
        ("/v1/orders?provider=logi%1btrail", "query.provider"),
        ("/v1/orders?external_id=" + "x" * 65, "query.external_id"),
        ("/v1/returns?order_id=ord_%00", "query.order_id"),
        ("/v1/deliveries?subscriber=a%00", "query.subscriber"),
        (f"/v1/orders?cursor={_FORGED}", "query.cursor"),
        (f"/v1/returns?cursor={_FORGED_RETURN}", "query.cursor"),
        ("/v1/orders?limit=5&=null", "query"),
    ],
)
async def test_a_bad_query_parameter_is_a_400_naming_it(
    gateway: Gateway, path: str, loc: str
) -> None:
    problem = await _problem(await gateway.get(path, headers=auth()), 400)
    assert problem["code"] == "invalid-query"
    assert _locs(problem) == {loc}


async def test_the_edges_of_every_range_are_accepted(gateway: Gateway) -> None:
    created = await _submit(gateway, order("EDGE-1"))
    for path in (
        f"/v1/events?after={MAX_SEQUENCE}&limit=500",
        f"/v1/deliveries?after={MAX_SEQUENCE}&limit=1",
        "/v1/orders?limit=200&updated_since=0001-01-01T00:00:00Z",
        "/v1/orders?limit=1&updated_since=9999-12-31T23:59:59%2B00:00",
        "/v1/returns?limit=200",
    ):
        resp = await gateway.get(path, headers=auth())
        assert resp.status == 200, (path, await resp.text())
    since = await read_json(
        await gateway.get("/v1/orders?updated_since=2000-01-01T02:00:00%2B02:00", headers=auth())
    )
    assert [o["id"] for o in since["items"]] == [created["id"]]


# path values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "loc"),
    [
        ("GET", "/v1/orders/ord_%00", "path.id"),
        ("POST", "/v1/orders/ord_%1b/cancel", "path.id"),
        ("POST", "/v1/orders/ord_%7f/refresh", "path.id"),
        ("GET", "/v1/returns/ret_%00", "path.id"),
        ("POST", "/v1/returns/ret_%00/cancel", "path.id"),
        ("POST", "/v1/deliveries/sub%00/evt_1/retry", "path.subscriber"),
        ("POST", "/v1/deliveries/sub/evt_%00/retry", "path.event_id"),
    ],
)
async def test_a_control_character_in_a_path_value_is_a_400_naming_it(
    gateway: Gateway, method: str, path: str, loc: str
) -> None:
    problem = await _problem(await gateway.request(method, path, headers=auth()), 400)
    assert problem["code"] == "invalid-path"
    assert _locs(problem) == {loc}


async def test_a_control_character_in_a_webhook_path_is_a_400(gateway: Gateway) -> None:
    resp = await gateway.post("/v1/webhooks/logi%00trail", json={})
    assert _locs(await _problem(resp, 400)) == {"path.provider"}


# body text ----------------------------------------------------------------------------------


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    body = order("CTRL-1")
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (("external_id",), "SHOP\x001001", "external_id"),
        (("channel",), "web\x1b[31m", "channel"),
        (("recipient", "first_name"), "Aino\x00", "recipient.first_name"),
        (("recipient", "company"), "Oy\x85Ab", "recipient.company"),  # C1: NEL
        (("recipient", "email"), "aino\x00@example.com", "recipient.email"),
        (("address", "line1"), "Mannerheimintie\n1", "address.line1"),  # one line only
        (("address", "postal_code"), "00\x00100", "address.postal_code"),
        (("address", "city"), "Hel\x7fsinki", "address.city"),
        (("lines", 0, "sku"), "TSHIRT\x00M", "lines[0].sku"),
        (("lines", 0, "name"), "T-shirt\tM", "lines[0].name"),
        (("tags", 0), "vip\x00", "tags[0]"),
        (("metadata", "cart"), "c\x0077", "metadata.cart"),
    ],
)
async def test_a_control_character_in_order_text_is_a_422_and_reaches_no_provider(
    gateway: Gateway,
    logitrail: SandboxHandle,
    path: tuple[str | int, ...],
    value: str,
    loc: str,
) -> None:
    resp = await gateway.post("/v1/orders", json=_with(path, value), headers=auth(key="ctrl"))
    problem = await _problem(resp, 422)

    assert _locs(problem) == {loc}
    assert "control characters" in problem["errors"][0]["msg"]
    assert order_calls(logitrail) == []


async def test_a_control_character_in_a_metadata_key_is_a_422(gateway: Gateway) -> None:
    body = order("CTRL-2", metadata={"ca\x00rt": "c-77"})
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="ctrl-2"))
    assert [loc.startswith("metadata.") for loc in _locs(await _problem(resp, 422))] == [True]


async def test_a_change_with_a_control_character_is_a_422_and_keeps_the_order(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    created = await _submit(gateway, order("CTRL-3"))
    recipient = {**created["order"]["recipient"], "last_name": "Virtanen\x00"}

    resp = await gateway.patch(
        f"/v1/orders/{created['id']}", json={"recipient": recipient}, headers=auth()
    )

    assert _locs(await _problem(resp, 422)) == {"recipient.last_name"}
    assert "update" not in order_calls(logitrail)
    held = await read_json(await gateway.get(f"/v1/orders/{created['id']}", headers=auth()))
    assert held["order"]["recipient"]["last_name"] == "Virtanen"


async def test_return_text_may_span_lines_but_holds_no_other_control_character(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    created = await _submit(gateway, order("CTRL-4"))
    bad = {"order_id": created["id"], "remarks": "torn\x00", "handling_instructions": "a\x1bb"}
    resp = await gateway.post("/v1/returns", json=bad, headers=auth(key="ret-bad"))
    assert _locs(await _problem(resp, 422)) == {"remarks", "handling_instructions"}
    rma = {"order_id": created["id"], "external_id": "RMA\x00-1"}
    resp = await gateway.post("/v1/returns", json=rma, headers=auth(key="ret-bad-2"))
    assert _locs(await _problem(resp, 422)) == {"external_id"}

    await ship_at_logitrail(gateway, logitrail, created)  # only shipped orders take returns
    good = {"order_id": created["id"], "remarks": "Torn seam.\r\nSecond line:\tsleeve"}
    resp = await gateway.post("/v1/returns", json=good, headers=auth(key="ret-good"))
    assert resp.status in (201, 202), await resp.text()
    assert (await read_json(resp))["return"]["remarks"] == good["remarks"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("not_before", "9999-12-31T23:59:59-01:00"),  # after 9999-12-31 in UTC
        ("not_before", "0001-01-01T00:30:00+01:00"),  # before 0001-01-01 in UTC
        ("not_after", "9999-12-31T23:59:59-01:00"),
        ("ordered_at", "0001-01-01T00:00:00+01:00"),
    ],
)
async def test_a_date_time_without_a_utc_instant_is_a_422_naming_it(
    make_gateway: Any, flexport: FlexportHandle, field: str, value: str
) -> None:
    # Flexport's B2B outbound converts not_before to UTC: that was an OverflowError, a 500.
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES)
    body = b2b_order("DATE-1", **{field: value})
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="date-1"))
    problem = await _problem(resp, 422)
    assert _locs(problem) == {field}
    assert "in UTC" in problem["errors"][0]["msg"]
    assert flexport.sandbox.state.b2b == {}


# metadata limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "loc", "words"),
    [
        ({"cart": "x" * 501}, "metadata.cart", "at most 500 characters"),
        ({"note": "é" * 501}, "metadata.note", "at most 500 characters"),
        ({f"k{i}": i for i in range(51)}, "metadata", "at most 50"),
        ({"k" * 65: "v"}, "metadata", "at most 64"),
        ({f"key-{i:02}": "ä" * 200 for i in range(40)}, "metadata", "at most 16384"),
        ({"cart": ["c-77"]}, "metadata.cart", "string, number, boolean or null"),
        ({"big": 2**53}, "metadata.big", "between -9007199254740991"),
        ({"big": -1e300}, "metadata.big", "between -9007199254740991"),
    ],
)
async def test_metadata_over_its_limits_is_a_422_naming_where(
    gateway: Gateway, metadata: dict[str, Any], loc: str, words: str
) -> None:
    resp = await gateway.post(
        "/v1/orders", json=order("META-1", metadata=metadata), headers=auth(key="meta")
    )
    problem = await _problem(resp, 422)
    assert [e["loc"].startswith(loc) for e in problem["errors"]] == [True], problem
    assert words in problem["errors"][0]["msg"]


async def test_metadata_at_its_limits_is_accepted(gateway: Gateway) -> None:
    # 50 keys, values of 500 characters: 16 KiB allows 32 of them; the rest are short.
    metadata: dict[str, Any] = {f"k{i:02}": "v" * 500 for i in range(30)}
    metadata.update({f"n{i:02}": i for i in range(17)})
    metadata.update({"max": 2**53 - 1, "min": -(2**53 - 1)})
    metadata["k" * 64] = None
    assert len(orjson.dumps(metadata)) <= 16 * 1024
    created = await _submit(gateway, order("META-2", metadata=metadata))
    assert created["order"]["metadata"] == metadata


async def test_an_order_stored_before_the_limits_can_still_change_and_return(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    created = await _submit(gateway, order("OLD-1"))
    old = {**created["order"], "metadata": {"cart": "x" * 600}, "channel": "web\x1bfi"}
    store = gateway.server.app[STORE]
    await store.replace_body(
        created["id"],
        orjson.dumps(old).decode(),
        queued_only=False,
        actor="storefront-fi",
        changed=["metadata", "channel"],
        now=time.time(),
    )
    address = {**created["order"]["address"], "line1": "Aleksanterinkatu 5"}

    resp = await gateway.patch(
        f"/v1/orders/{created['id']}", json={"address": address}, headers=auth()
    )
    assert resp.status == 200, await resp.text()
    assert (await read_json(resp))["order"]["metadata"] == {"cart": "x" * 600}
    await ship_at_logitrail(gateway, logitrail, created)
    resp = await gateway.post(
        "/v1/returns", json={"order_id": created["id"]}, headers=auth(key="old-ret")
    )
    assert resp.status in (201, 202), await resp.text()
