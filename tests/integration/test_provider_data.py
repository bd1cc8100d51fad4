"""What a provider keeps with its order id is stored with the order, not in a process's memory:
Flexport's order kind (which of its two APIs holds the order) is on the row, so any gateway on
the store — a replica, or this one restarted — calls the right API at once; an order stored
before the kind was kept still works by asking each API, as it always did. Every test runs on
both stores."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import PROVIDERS, STORE, SUBMITTER
from gateway.model.orders import CanonicalOrder, Phase
from gateway.providers.base import ProviderOrderRef, Submission
from gateway.sandbox.flexport import FlexportSandbox
from gateway.store import NewOrder
from tests.conftest import (
    FLEXPORT_RULES,
    FlexportHandle,
    auth,
    b2b_order,
    gb_order,
    read_json,
    ref,
)


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test of this module on every backend."""
    return store_url


QUIET = {
    "routing__rules": FLEXPORT_RULES,
    # Only the calls under test reach the sandbox: no webhook endpoint (so no reads of the
    # order a webhook would make), and no order is ever due for a status poll.
    "providers__flexport__webhook_secret_env": None,
    "providers__flexport__status_poll_interval_s": 1e12,
}


async def _submitted(gateway: TestClient[Any, Any], body: dict[str, Any]) -> Any:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=body["external_id"]))
    created = await read_json(resp)
    assert (resp.status, created["status"]) == (201, "submitted"), created
    return created


async def _calls(sandbox: FlexportSandbox, gateway: TestClient[Any, Any], path: str) -> list[str]:
    """The Flexport calls that one request to the gateway made (`POST <path>`), in order."""
    before = len(sandbox.requests)
    resp = await gateway.post(path, headers=auth())
    assert resp.status == 200, await resp.text()
    return [f"{r.op} {r.status}" for r in sandbox.requests[before:]]


async def test_another_gateway_on_the_store_calls_the_api_that_holds_the_order_once(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    first = await make_gateway(**QUIET)
    outbound = await _submitted(first, b2b_order("KIND-1"))
    order = await _submitted(first, gb_order("KIND-2"))
    row = await first.app[STORE].get_order(outbound["id"])
    assert row is not None
    assert row.provider_data == {"kind": "b2b"}
    await first.close()  # nothing it remembered survives it
    gateway = await make_gateway(**QUIET)
    sandbox, b2b, d2c = flexport.sandbox, outbound["id"], order["id"]

    assert await _calls(sandbox, gateway, f"/v1/orders/{b2b}/refresh") == ["b2b_get 200"]
    assert await _calls(sandbox, gateway, f"/v1/orders/{d2c}/refresh") == ["get 200"]
    assert await _calls(sandbox, gateway, f"/v1/orders/{b2b}/cancel") == ["b2b_cancel 200"]
    view = await read_json(await gateway.get(f"/v1/orders/{b2b}", headers=auth()))
    assert view["status"] == "cancelled"
    assert "provider_data" not in view  # the provider's own notes are never shown


@pytest.mark.parametrize(
    "kept",
    [None, '{"kind": "pallet"}'],
    ids=["stored-before-the-kind-was-kept", "kind-unknown-to-this-version"],
)
async def test_an_order_without_a_known_kind_asks_d2c_first_then_b2b_as_before(
    make_gateway: Any, flexport: FlexportHandle, kept: str | None
) -> None:
    gateway = await make_gateway(**QUIET)
    outbound = await _submitted(gateway, b2b_order("KIND-3"))
    store = gateway.app[STORE]
    async with store._db.autocommit() as tx:
        await tx.execute("UPDATE orders SET provider_data = ? WHERE id = ?", (kept, outbound["id"]))
    row = await store.get_order(outbound["id"])
    assert row is not None
    assert row.provider_data == ({} if kept is None else {"kind": "pallet"})
    sandbox, b2b = flexport.sandbox, outbound["id"]

    probed = ["get 404", "b2b_get 200"]
    assert await _calls(sandbox, gateway, f"/v1/orders/{b2b}/refresh") == probed
    assert await _calls(sandbox, gateway, f"/v1/orders/{b2b}/refresh") == probed  # no memory
    # A cancel is sent to the API found by reading (its idempotency key, refused 404 by one
    # API, would be refused as used by the other).
    assert await _calls(sandbox, gateway, f"/v1/orders/{b2b}/cancel") == [*probed, "b2b_cancel 200"]
    view = await read_json(await gateway.get(f"/v1/orders/{b2b}", headers=auth()))
    assert view["status"] == "cancelled"


async def test_an_order_reconciled_after_a_crash_keeps_the_kind_it_was_found_with(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await make_gateway(**QUIET)
    body = b2b_order("KIND-4")
    order_id, reference = "ord_01RECONCILEDRECONCILED0000", ref("KIND-4")
    # A create that reached Flexport before the process crashed: the row is still `creating`.
    sub = Submission(
        order_id, "storefront-fi", CanonicalOrder.model_validate(body), "reserve", reference
    )
    created = await gateway.app[PROVIDERS]["flexport"].create(sub)
    assert created == ProviderOrderRef(created.id, {"kind": "b2b"})
    store = gateway.app[STORE]
    await store.insert_order(
        NewOrder(
            id=order_id,
            client_id="storefront-fi",
            external_id="KIND-4",
            provider="flexport",
            warehouse="reserve",
            route_rule="wholesale",
            route_candidate=0,
            body=orjson.dumps(body).decode(),
            phase=Phase.CREATING,
            provider_reference=reference,
        ),
        now=time.time(),
        idempotency=None,
        lease_owner=None,
        lease_until=None,
    )

    task = await gateway.app[SUBMITTER].claim(order_id)
    assert task is not None
    done = await task
    assert (done.phase, done.provider_order_id) == (Phase.DONE, created.id)
    assert done.provider_data == {"kind": "b2b"}  # stored in the step that stored the id
    assert flexport.sandbox.count("b2b_find") == 1
    assert flexport.sandbox.count("b2b_create") == 1  # the one before the crash
