"""Tenants share one provider account: the references the gateway gives a provider are
tenant-qualified, reconcile matches exactly them, and no gateway order ever adopts a provider
order another one holds. Every test runs on both stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import METRICS, STORE, SUBMITTER
from gateway.errors import ProviderOrderTaken
from gateway.model.orders import CanonicalOrder, Phase
from gateway.providers.logitrail import translate
from gateway.sandbox.flexport import Fault as FlexportFault
from gateway.sandbox.logentic import Fault as LogenticFault
from gateway.sandbox.logitrail import Fault
from gateway.store import NewOrder, Transition
from tests.conftest import (
    FLEXPORT_RULES,
    FlexportHandle,
    LogenticHandle,
    SandboxHandle,
    auth,
    b2b_order,
    ca_order,
    order,
    read_json,
    ref,
)
from tests.integration.resilience import eventually


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test of this module on every backend."""
    return store_url


FAST = {"submission__backoff_base_s": 0.01, "submission__backoff_max_s": 0.05}


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any], client: str) -> Any:
    resp = await gateway.post(
        "/v1/orders", json=body, headers=auth(client, key=f"{client}-{body['external_id']}")
    )
    assert resp.status in (201, 202), await resp.text()
    return await read_json(resp)


async def _view(gateway: TestClient[Any, Any], order_id: str, client: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth(client)))


async def _stored(
    store: Any,
    order_id: str,
    client: str,
    external_id: str,
    *,
    reference: str | None,
    phase: Phase = Phase.PENDING,
    leased: bool = False,
) -> Any:
    """A Logitrail order row stored directly, as the test arranges it (not through the API)."""
    return await store.insert_order(
        NewOrder(
            id=order_id,
            client_id=client,
            external_id=external_id,
            provider="logitrail",
            warehouse="FI-VANTAA",
            route_rule="nordics",
            route_candidate=0,
            body=orjson.dumps(order(external_id)).decode(),
            phase=phase,
            provider_reference=reference,
        ),
        now=time.time(),
        idempotency=None,
        lease_owner="t" if leased else None,
        lease_until=time.time() + 60 if leased else None,
    )


async def _until_submitted(gateway: TestClient[Any, Any], order_id: str, client: str) -> Any:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update(await _view(gateway, order_id, client))
        return bool(seen["status"] == "submitted")

    deadline = time.monotonic() + 10
    while not await check():
        assert time.monotonic() < deadline, seen
        await eventually(lambda: True)
    return seen


async def test_logitrail_two_tenants_same_external_id_never_share_a_provider_order(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(**FAST)
    a = await _submit(gateway, order("SHARED-3"), "storefront-fi")
    # B's create fails with a 500: its outcome is unknown, so B reconciles before resending.
    logitrail.sandbox.inject(Fault(op="create", status=500))
    b = await _submit(gateway, order("SHARED-3"), "storefront-se")
    b = await _until_submitted(gateway, b["id"], "storefront-se")

    [held_a] = logitrail.sandbox.orders_by_merchant_order(ref("SHARED-3", "storefront-fi"))
    [held_b] = logitrail.sandbox.orders_by_merchant_order(ref("SHARED-3", "storefront-se"))
    assert a["provider_order_id"] == held_a.id
    assert b["provider_order_id"] == held_b.id != held_a.id
    finds = [r for r in logitrail.sandbox.requests if r.op == "find"]
    assert [r.query.get("merchants_order") for r in finds] == ["storefront-se/SHARED-3"]

    # B's change and cancel reach B's order only.
    change = await gateway.patch(
        f"/v1/orders/{b['id']}",
        json={"recipient": {"first_name": "Bea", "last_name": "B"}},
        headers=auth("storefront-se"),
    )
    assert change.status == 200, await change.text()
    cancel = await gateway.post(f"/v1/orders/{b['id']}/cancel", headers=auth("storefront-se"))
    assert cancel.status == 200, await cancel.text()
    assert logitrail.sandbox.orders[held_b.id].status == "cancelled"
    assert logitrail.sandbox.orders[held_a.id].status == "confirmed"
    assert held_a.body["customer"]["firstName"] == order("SHARED-3")["recipient"]["first_name"]


async def test_logentic_reconcile_after_a_500_finds_only_the_tenants_own_order(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(**FAST)
    a = await _submit(gateway, ca_order("SHARED-4"), "storefront-fi")
    logentic.sandbox.inject(LogenticFault(op="create", status=500))
    b = await _submit(gateway, ca_order("SHARED-4"), "storefront-se")
    b = await _until_submitted(gateway, b["id"], "storefront-se")

    [held_a] = logentic.sandbox.orders_by_external_name(ref("SHARED-4", "storefront-fi"))
    [held_b] = logentic.sandbox.orders_by_external_name(ref("SHARED-4", "storefront-se"))
    assert (a["provider_order_id"], b["provider_order_id"]) == (str(held_a.id), str(held_b.id))

    cancel = await gateway.post(f"/v1/orders/{b['id']}/cancel", headers=auth("storefront-se"))
    assert cancel.status == 200, await cancel.text()
    assert (held_a.status, held_b.status) == ("PENDING", "CANCELLED")


async def test_flexport_b2b_outbound_found_by_reference_is_adopted_not_rejected(
    make_gateway: Callable[..., Any], flexport: FlexportHandle
) -> None:
    """The documented B2B answer carries no destination: a found outbound is compared on its
    reference and lines, and adopted."""
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES, **FAST)
    # Flexport creates it, the answer is lost (a 502 after performing): reconcile finds it.
    flexport.sandbox.inject(FlexportFault(op="b2b_create", status=502, after=True, count=None))
    body = await _submit(gateway, b2b_order("PO-LOST-1"), "storefront-fi")
    flexport.sandbox.clear_faults()
    view = await _until_submitted(gateway, body["id"], "storefront-fi")

    [held] = flexport.sandbox.orders_by_external_id(ref("PO-LOST-1"))
    assert view["provider_order_id"] == held.order_id
    assert "shipToAddress" not in held.to_json()


async def test_a_provider_order_another_order_holds_is_never_adopted(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    """Two orders sharing a reference (here: B's row carries A's, as a reference_prefix
    changed back to another client's would): B's reconcile finds A's provider order and
    refuses it — no confirm, no change at the provider, B in `exception`, alert counted."""
    gateway = await make_gateway(submission__poll_interval_s=60, **FAST)
    store = gateway.server.app[STORE]
    a = await _submit(gateway, order("SHARED-5"), "storefront-fi")
    calls_before = len(logitrail.sandbox.requests)
    b = await _stored(
        store,
        "ord_01BBBBBBBBBBBBBBBBBBBBBBBB",
        "storefront-se",
        "SHARED-5",
        reference=ref("SHARED-5", "storefront-fi"),
        phase=Phase.CREATING,  # a create may have been sent: reconcile first
    )

    submitter = gateway.server.app[SUBMITTER]
    task = await submitter.claim(b.id)
    assert task is not None
    row = await task

    assert (row.status, row.phase, row.provider_order_id) == ("exception", "failed", None)
    assert row.last_error is not None
    assert row.last_error["error"] == "provider-order-taken"
    sent = [r.op for r in logitrail.sandbox.requests[calls_before:] if r.op != "token"]
    assert sent == ["find"]  # found, refused: never confirmed, changed or created
    assert logitrail.sandbox.orders[a["provider_order_id"]].status == "confirmed"
    metrics = gateway.server.app[METRICS].render().decode()
    assert 'gateway_provider_order_adoptions_refused_total{provider="logitrail"} 1.0' in metrics
    # B's view names no provider order and says nothing of A's.
    view = await _view(gateway, b.id, "storefront-se")
    assert a["id"] not in orjson.dumps(view).decode()


async def test_the_store_refuses_a_second_order_holding_one_provider_order(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    store = gateway.server.app[STORE]
    a = await _submit(gateway, order("UNIQ-1"), "storefront-fi")
    b = await _stored(
        store,
        "ord_01CCCCCCCCCCCCCCCCCCCCCCCC",
        "storefront-se",
        "UNIQ-1",
        reference=ref("UNIQ-1", "storefront-se"),
        leased=True,
    )

    with pytest.raises(ProviderOrderTaken) as caught:
        await store.advance(
            b.id,
            owner="t",
            step=Transition(phase=Phase.DONE, provider_order_id=a["provider_order_id"]),
        )
    assert (caught.value.holder, caught.value.provider) == (a["id"], "logitrail")
    unchanged = await store.get_order(b.id)
    assert unchanged is not None
    assert unchanged.provider_order_id is None
    assert logitrail.sandbox.orders  # the provider side is untouched by a store refusal


async def test_an_order_stored_before_references_were_qualified_is_still_found(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    """A row without a stored reference went to the provider with the bare external id:
    its reconcile looks that up, and adopts what it finds."""
    gateway = await make_gateway(submission__poll_interval_s=60, **FAST)
    store = gateway.server.app[STORE]
    # What the gateway sent before: the bare external id as merchants_order.
    sent = translate.to_order(CanonicalOrder.model_validate(order("OLD-1")), reference="OLD-1")
    held = logitrail.sandbox._state.new_order(sent, "OLD-1")
    row = await _stored(
        store,
        "ord_01LEGACYLEGACYLEGACYLEGACY",
        "storefront-fi",
        "OLD-1",
        reference=None,
        phase=Phase.CREATING,
    )
    assert row.provider_reference is None
    assert row.reference == "OLD-1"

    task = await gateway.server.app[SUBMITTER].claim(row.id)
    assert task is not None
    done = await task

    assert (done.phase, done.provider_order_id) == ("done", held.id)
    assert logitrail.sandbox.count("create") == 0
