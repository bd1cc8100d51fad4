"""A canonical order goes through routing to the Logitrail sandbox and back (issue: skeleton)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sandbox.logitrail import Fault
from tests.conftest import SandboxHandle, auth, order, order_calls, read_json, ref

HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def test_submit_creates_and_confirms_at_logitrail_and_answers_201(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    resp = await gateway.post("/v1/orders", json=order("SHOP-1"), headers=auth(key="k-1"))
    body = await read_json(resp)

    assert resp.status == 201, body
    assert resp.headers["Location"] == f"/v1/orders/{body['id']}"
    assert body["id"].startswith("ord_")
    assert body["external_id"] == "SHOP-1"
    assert body["status"] == "submitted"
    assert body["provider"] == "logitrail"
    assert body["warehouse"] == "FI-VANTAA"
    assert body["route"] == {"rule": "nordics", "candidate": 0}
    assert HEX24.match(body["provider_order_id"])
    assert body["order"]["lines"][0]["unit_price"] == "19.90"
    held = logitrail.sandbox.orders[body["provider_order_id"]]
    assert held.status == "confirmed"
    assert held.merchants_order == ref("SHOP-1")
    assert held.body["customer"]["firstName"] == "Aino"
    assert [r.op for r in logitrail.sandbox.requests] == ["token", "create", "confirm"]


async def test_a_fresh_order_is_stored_creating_and_its_create_needs_no_lookup(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    body = await read_json(
        await gateway.post("/v1/orders", json=order("FRESH-1"), headers=auth(key="fresh"))
    )

    assert body["submission"] == {"phase": "done", "attempts": 1, "last_error": None}
    assert order_calls(logitrail) == ["create", "confirm"]  # no `find` before the create


async def test_a_failed_confirm_stores_the_provider_id_so_its_retry_needs_no_lookup(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    # Every transport attempt of the first confirm fails (max_attempts 4): the submission is
    # retried on the order's backoff, still within the request's budget.
    logitrail.sandbox.inject(Fault(op="confirm", status=503, count=4))
    resp = await gateway.post("/v1/orders", json=order("CONF-1"), headers=auth(key="conf"))
    body = await read_json(resp)

    assert resp.status == 201, body
    assert body["submission"]["attempts"] == 1
    assert logitrail.sandbox.orders[body["provider_order_id"]].status == "confirmed"
    # Without the stored id the retry would have had to `find` the order first.
    assert order_calls(logitrail) == ["create"] + ["confirm"] * 5


async def test_get_order_shows_provider_ids_status_and_history(
    gateway: TestClient[Any, Any],
) -> None:
    created = await read_json(
        await gateway.post("/v1/orders", json=order("SHOP-2"), headers=auth(key="k-2"))
    )
    resp = await gateway.get(f"/v1/orders/{created['id']}", headers=auth())
    body = await read_json(resp)

    assert resp.status == 200
    assert body["provider_order_id"] == created["provider_order_id"]
    assert [h["status"] for h in body["history"]] == ["accepted", "submitted"]
    assert [h["source"] for h in body["history"]] == ["api", "submitter"]
    assert body["submission"]["phase"] == "done"


async def test_replay_returns_stored_response_without_second_provider_call(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    first = await gateway.post("/v1/orders", json=order("SHOP-3"), headers=auth(key="same"))
    first_body = await first.read()
    calls = len(logitrail.sandbox.requests)

    again = await gateway.post("/v1/orders", json=order("SHOP-3"), headers=auth(key="same"))

    assert again.status == first.status == 201
    assert await again.read() == first_body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(logitrail.sandbox.requests) == calls


async def test_replay_matches_whatever_key_order_and_whitespace(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    body = order("SHOP-4")
    compact = await gateway.post("/v1/orders", json=body, headers=auth(key="fp"))
    reordered = (
        "{\n  "
        + ",\n  ".join(
            f'"{k}": {__import__("orjson").dumps(v).decode()}' for k, v in reversed(body.items())
        )
        + "\n}"
    )
    again = await gateway.post(
        "/v1/orders",
        data=reordered,
        headers={**auth(key="fp"), "Content-Type": "application/json"},
    )

    assert compact.status == 201
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert logitrail.sandbox.count("create") == 1


async def test_same_key_with_different_body_is_422_and_sends_nothing(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    await gateway.post("/v1/orders", json=order("SHOP-5"), headers=auth(key="k-5"))
    changed = order("SHOP-5", tags=["other"])

    resp = await gateway.post("/v1/orders", json=changed, headers=auth(key="k-5"))
    body = await read_json(resp)

    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    assert body["code"] == "idempotency-key-reused"
    assert logitrail.sandbox.count("create") == 1


async def test_concurrent_requests_with_one_key_create_exactly_one_provider_order(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(_slow_create(0.3))

    async def post() -> tuple[int, dict[str, Any]]:
        resp = await gateway.post("/v1/orders", json=order("SHOP-6"), headers=auth(key="race"))
        return resp.status, await read_json(resp)

    results = await asyncio.gather(*(post() for _ in range(20)))
    statuses = sorted(s for s, _ in results)

    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    in_flight = [b for s, b in results if s == 409]
    assert all(b["code"] == "request-in-progress" for b in in_flight)
    assert logitrail.sandbox.count("create") == 1
    assert len(logitrail.sandbox.orders_by_merchant_order(ref("SHOP-6"))) == 1


async def test_in_flight_duplicate_gets_409_with_retry_after(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(_held_create())
    first = asyncio.ensure_future(
        gateway.post("/v1/orders", json=order("SHOP-7"), headers=auth(key="held"))
    )
    await logitrail.sandbox.wait_held("create")

    second = await gateway.post("/v1/orders", json=order("SHOP-7"), headers=auth(key="held"))
    logitrail.sandbox.release()
    done = await first

    assert second.status == 409
    assert int(second.headers["Retry-After"]) >= 1
    assert (await read_json(second))["code"] == "request-in-progress"
    assert done.status == 201


async def test_same_external_id_under_new_key_is_409_naming_existing_order(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    first = await read_json(
        await gateway.post("/v1/orders", json=order("SHOP-8"), headers=auth(key="a"))
    )
    resp = await gateway.post("/v1/orders", json=order("SHOP-8"), headers=auth(key="b"))
    body = await read_json(resp)

    assert resp.status == 409
    assert body["code"] == "order-exists"
    assert body["order_id"] == first["id"]
    assert first["id"] in body["detail"]
    assert logitrail.sandbox.count("create") == 1


async def test_idempotency_scope_is_per_client(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    fi = await gateway.post("/v1/orders", json=order("FI-1"), headers=auth(key="shared"))
    se = await gateway.post(
        "/v1/orders", json=order("SE-1"), headers=auth("storefront-se", key="shared")
    )

    assert fi.status == 201
    assert se.status == 201
    assert "Idempotent-Replayed" not in se.headers
    assert logitrail.sandbox.count("create") == 2


async def test_external_ids_are_per_client(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    fi = await gateway.post("/v1/orders", json=order("X-1"), headers=auth(key="k1"))
    se = await gateway.post(
        "/v1/orders", json=order("X-1"), headers=auth("storefront-se", key="k1")
    )
    assert (fi.status, se.status) == (201, 201)


async def test_tenant_cannot_read_another_tenants_order(gateway: TestClient[Any, Any]) -> None:
    fi = await read_json(
        await gateway.post("/v1/orders", json=order("T-1"), headers=auth(key="t1"))
    )
    resp = await gateway.get(f"/v1/orders/{fi['id']}", headers=auth("storefront-se"))
    listed = await read_json(await gateway.get("/v1/orders", headers=auth("storefront-se")))

    assert resp.status == 404
    assert (await read_json(resp))["code"] == "not-found"
    assert listed["items"] == []


async def test_unroutable_order_is_422_listing_why_each_rule_failed(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    us = order("DE-1")
    us["address"] = {
        **us["address"],
        "country_code": "DE",
        "postal_code": "10115",
        "city": "Berlin",
    }
    resp = await gateway.post("/v1/orders", json=us, headers=auth(key="us"))
    body = await read_json(resp)

    assert resp.status == 422
    assert body["code"] == "unroutable"
    assert body["errors"][0]["loc"] == "routing.rules[nordics]"
    assert "DE" in body["errors"][0]["msg"]
    assert [e["loc"] for e in body["errors"]] == [
        "routing.rules[nordics]",
        "routing.rules[north-america]",
    ]
    assert body["trace"][0]["rule"] == "nordics"
    assert order_calls(logitrail) == []
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    assert listed["items"] == []


async def test_unroutable_key_can_be_reused_after_fixing_the_order(
    gateway: TestClient[Any, Any],
) -> None:
    us = order("DE-2")
    us["address"] = {**us["address"], "country_code": "DE"}
    first = await gateway.post("/v1/orders", json=us, headers=auth(key="fixme"))
    fixed = await gateway.post("/v1/orders", json=order("DE-2"), headers=auth(key="fixme2"))
    assert first.status == 422
    assert fixed.status == 201


async def test_explain_returns_trace_without_storing_or_sending(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    resp = await gateway.post("/v1/routing/explain", json=order("EX-1"), headers=auth())
    body = await read_json(resp)

    assert resp.status == 200
    assert body["decision"]["rule"] == "nordics"
    assert body["decision"]["provider"] == "logitrail"
    assert body["trace"][0]["matched"] is True
    assert order_calls(logitrail) == []
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    assert listed["items"] == []


async def test_provider_rejection_ends_order_rejected_and_answers_422_with_reason(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(
        Fault(
            op="create",
            status=400,
            body={"code": "product.merchants_id.required", "message": "merchants_id is required"},
        )
    )
    resp = await gateway.post("/v1/orders", json=order("REJ-1"), headers=auth(key="rej"))
    body = await read_json(resp)

    assert resp.status == 422
    assert body["code"] == "provider-rejected"
    assert body["provider_code"] == "product.merchants_id.required"
    assert "merchants_id is required" in body["detail"]
    assert body["errors"][0]["loc"] == "lines[].sku"
    assert body["order"]["status"] == "rejected"
    stored = await read_json(await gateway.get(f"/v1/orders/{body['order']['id']}", headers=auth()))
    assert stored["status"] == "rejected"
    assert stored["submission"]["phase"] == "failed"


async def test_pickup_point_id_that_logitrail_cannot_take_is_422_before_any_call(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    body = order("PP-1", delivery={"type": "pickup_point", "pickup_point_id": "KIOSK-9"})
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="pp"))
    problem = await read_json(resp)

    assert resp.status == 422
    assert problem["code"] == "provider-rules"
    assert problem["errors"][0]["loc"] == "delivery.pickup_point_id"
    assert problem["errors"][0]["rule"] == "logitrail"
    assert order_calls(logitrail) == []


def _slow_create(seconds: float) -> Fault:
    return Fault(op="create", delay_s=seconds, count=None)


def _held_create() -> Fault:
    return Fault(op="create", hold=True)
