"""`GET /v1/orders`: filters, cursor pagination in a stable order, tenant scoping."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import auth, order, read_json


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _submit(gateway: TestClient[Any, Any], n: int, prefix: str = "L") -> list[str]:
    ids = []
    for i in range(n):
        resp = await gateway.post(
            "/v1/orders", json=order(f"{prefix}-{i}"), headers=auth(key=f"{prefix}-{i}")
        )
        assert resp.status == 201
        ids.append((await read_json(resp))["id"])
    return ids


async def test_pages_cover_every_order_once_newest_first(gateway: TestClient[Any, Any]) -> None:
    ids = await _submit(gateway, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = await read_json(await gateway.get(f"/v1/orders?{query}", headers=auth()))
        seen += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_pagination_is_stable_while_new_orders_arrive(gateway: TestClient[Any, Any]) -> None:
    ids = await _submit(gateway, 4, "S")
    first = await read_json(await gateway.get("/v1/orders?limit=2", headers=auth()))
    await _submit(gateway, 2, "NEW")
    second = await read_json(
        await gateway.get(f"/v1/orders?limit=2&cursor={first['next_cursor']}", headers=auth())
    )
    assert [o["id"] for o in first["items"] + second["items"]] == list(reversed(ids))


async def test_filters(gateway: TestClient[Any, Any]) -> None:
    await _submit(gateway, 3, "F")
    by_ext = await read_json(await gateway.get("/v1/orders?external_id=F-1", headers=auth()))
    by_status = await read_json(await gateway.get("/v1/orders?status=submitted", headers=auth()))
    none = await read_json(await gateway.get("/v1/orders?status=shipped", headers=auth()))
    by_provider = await read_json(
        await gateway.get("/v1/orders?provider=logitrail", headers=auth())
    )
    other = await read_json(await gateway.get("/v1/orders?provider=flexport", headers=auth()))
    recent = await read_json(
        await gateway.get("/v1/orders?updated_since=2000-01-01T00:00:00%2B00:00", headers=auth())
    )
    future = await read_json(
        await gateway.get("/v1/orders?updated_since=2999-01-01T00:00:00Z", headers=auth())
    )

    assert [o["external_id"] for o in by_ext["items"]] == ["F-1"]
    assert len(by_status["items"]) == 3
    assert none["items"] == []
    assert len(by_provider["items"]) == 3
    assert other["items"] == []
    assert len(recent["items"]) == 3
    assert future["items"] == []


async def test_bad_query_parameters_are_400_naming_them(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get(
        "/v1/orders?limit=0&status=lost&cursor=zzz&updated_since=yesterday", headers=auth()
    )
    problem = await read_json(resp)
    assert resp.status == 400
    assert {e["loc"] for e in problem["errors"]} == {
        "query.limit",
        "query.status",
        "query.cursor",
        "query.updated_since",
    }


async def test_every_enumerated_filter_refuses_another_value_naming_the_allowed_ones(
    gateway: TestClient[Any, Any],
) -> None:
    """One rule for every list: a filter with a fixed set of values (a status, a delivery
    state, a configured provider) is 400 naming the parameter and every allowed value for a
    value outside the set — never 200 and an empty page. The set is the document's `enum`."""
    spec = await read_json(await gateway.get("/openapi.json"))
    schemas = spec["components"]["schemas"]

    def allowed(param: dict[str, Any]) -> list[str]:
        schema = param["schema"]
        for choice in [schema, *schema.get("anyOf", [])]:
            named = schemas[choice["$ref"].rsplit("/", 1)[1]] if "$ref" in choice else choice
            if "enum" in named:
                return list(named["enum"])
        return []

    enumerated = {
        (path, param["name"]): allowed(param)
        for path, ops in spec["paths"].items()
        for param in ops.get("get", {}).get("parameters", [])
        if param["in"] == "query" and allowed(param)
    }
    assert set(enumerated) == {
        ("/v1/orders", "status"),
        ("/v1/orders", "provider"),
        ("/v1/returns", "status"),
        ("/v1/deliveries", "state"),
    }
    assert enumerated["/v1/orders", "provider"] == ["flexport", "logentic", "logitrail"]
    for (path, name), values in enumerated.items():
        resp = await gateway.get(f"{path}?{name}=bogus", headers=auth())
        problem = await read_json(resp)
        assert resp.status == 400, (path, name, problem)
        assert problem["code"] == "invalid-query"
        [error] = problem["errors"]
        assert (error["loc"], error["rule"]) == (f"query.{name}", "enum")
        assert all(f"'{value}'" in error["msg"] for value in values), error
        for value in values:  # each allowed value is a filter, never a 400
            resp = await gateway.get(f"{path}?{name}={value}", headers=auth())
            assert resp.status == 200, (path, name, value)
