"""After submission: webhooks and polling through the state machine; cancel, change, refresh."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.model.orders import Status
from gateway.sandbox.logentic import Fault as LogenticFault
from gateway.sandbox.logitrail import Fault
from gateway.store import NewOrder, StoredEvent, open_store
from tests.conftest import (
    FLEXPORT_RULES,
    LOGITRAIL_WEBHOOK_TOKEN,
    WEBHOOK_SECRET,
    FlexportHandle,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    eventually,
    gb_order,
    order,
    order_calls,
    read_json,
    ref,
)
from tests.unit.fakes import SkipAheadClock


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


Gateway = TestClient[Any, Any]


async def submit(gateway: Gateway, body: dict[str, Any]) -> Any:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    assert resp.status == 201, await resp.text()
    return await read_json(resp)


async def view(gateway: Gateway, order_id: str, client: str = "storefront-fi") -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth(client)))


async def status_is(gateway: Gateway, order_id: str, status: str) -> Any:
    async def check() -> Any:
        v = await view(gateway, order_id)
        return v if v["status"] == status else None

    return await eventually(check)


def signed(body: bytes) -> dict[str, str]:
    sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Signature": sig}


# webhooks ----------------------------------------------------------------------------
async def test_out_of_order_webhook_is_recorded_as_ignored_never_applied(
    gateway: Gateway, logentic: LogenticHandle
) -> None:
    body = await submit(gateway, ca_order("OOO-1"))
    pid = int(body["provider_order_id"])
    # Each delivery is applied before the next arrives (deliveries applied concurrently may
    # be applied in any order): the last one is then older news than what the order knows.
    for event_id, raw, then in (
        ("e-packed", "PACKED", "in_progress"),
        ("e-transit", "IN_TRANSIT", "shipped"),
        ("e-pick", "PICKED", None),
    ):
        payload = orjson.dumps({"id": event_id, "data": {"id": pid, "status": raw}})
        resp = await gateway.post("/v1/webhooks/logentic", data=payload, headers=signed(payload))
        assert resp.status == 200
        if then is not None:
            await status_is(gateway, body["id"], then)

    async def ignored() -> Any:
        history = (await view(gateway, body["id"]))["history"]
        return history if history[-1]["outcome"] == "ignored" else None

    history = await eventually(ignored)
    assert [h["status"] for h in history if h["outcome"] == "applied"] == [
        "accepted",
        "submitted",
        "in_progress",
        "shipped",
    ]
    # The sandbox's own creation webhook ("submitted") may land late, and is ignored then too.
    late = [h["status"] for h in history[:-1] if h["outcome"] == "ignored"]
    assert set(late) <= {"submitted"}, history
    assert (history[-1]["status"], history[-1]["outcome"]) == ("in_progress", "ignored")
    assert history[-1]["source"] == "webhook"
    assert history[-1]["detail"].startswith("ignored: shipped does not move to in_progress")
    current = await view(gateway, body["id"])
    assert (current["status"], current["provider_status"]) == ("shipped", "PICKED")


async def test_logitrail_webhook_needs_its_token_and_carries_tracking(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN")
    body = await submit(gateway, order("LTW-1"))
    pid = body["provider_order_id"]
    forged = await gateway.post("/v1/webhooks/logitrail?token=wrong", data=b"{}")
    assert forged.status == 401

    url = gateway.make_url(f"/v1/webhooks/logitrail?token={LOGITRAIL_WEBHOOK_TOKEN}")
    logitrail.sandbox.webhook_url = str(url)
    logitrail.sandbox.advance(pid, "processed")
    await logitrail.sandbox.drain_webhooks()

    await status_is(gateway, body["id"], "shipped")

    async def with_shipment() -> Any:  # order.shipped follows order.info.change
        v = await view(gateway, body["id"])
        return v if v["tracking"]["shipment_ids"] else None

    shipped = await eventually(with_shipment)
    sandbox_order = logitrail.sandbox.orders[pid]
    assert shipped["tracking"]["code"] == sandbox_order.tracking_code
    assert shipped["tracking"]["shipment_ids"] == [f"shp-{pid[:12]}"]
    assert shipped["history"][-1]["source"] == "webhook"
    assert {d.status for d in logitrail.sandbox.deliveries} == {200}


async def test_logitrail_batch_redelivered_is_applied_once_per_event(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN")
    body = await submit(gateway, order("LTW-2"))
    url = f"/v1/webhooks/logitrail?token={LOGITRAIL_WEBHOOK_TOKEN}"

    def envelope(event_id: str, status: str) -> dict[str, Any]:
        payload = {"order": {"id": body["provider_order_id"], "status": status}}
        return {"event_id": event_id, "event_type": "order.info.change", "payload": payload}

    first = await gateway.post(url, data=orjson.dumps([envelope("e-1", "processing")]))
    batch = [envelope("e-1", "processing"), envelope("e-2", "processed")]
    again = await gateway.post(url, data=orjson.dumps(batch))

    assert await read_json(first) == {"received": 1, "new": 1}
    assert await read_json(again) == {"received": 2, "new": 1}
    shipped = await status_is(gateway, body["id"], "shipped")
    webhook_entries = [h for h in shipped["history"] if h["source"] == "webhook"]
    assert [h["status"] for h in webhook_entries] == ["in_progress", "shipped"]


async def test_a_webhook_is_not_acknowledged_when_it_cannot_be_stored(
    gateway: Gateway, logentic: LogenticHandle
) -> None:
    body = await submit(gateway, ca_order("DOWN-1"))
    payload = orjson.dumps({"id": "e-down", "data": {"id": int(body["provider_order_id"])}})
    await gateway.server.app[STORE].close()

    resp = await gateway.post("/v1/webhooks/logentic", data=payload, headers=signed(payload))

    assert resp.status == 503  # not 2xx: Logentic delivers it again later
    assert (await read_json(resp))["code"] == "store-unavailable"
    assert resp.headers["Retry-After"] == "1"


async def test_housekeeping_forgets_applied_webhook_events_after_webhook_ttl_s(
    make_gateway: Callable[..., Any], gateway_store_url: str
) -> None:
    def event(event_id: str) -> StoredEvent:
        return StoredEvent("logentic", event_id, "order-shipped", "404", Status.SHIPPED, None, 0)

    seeded = await open_store(gateway_store_url)
    for event_id, age_s in (("e-old", 2 * 86400), ("e-recent", 3600)):
        await seeded.record_event(event(event_id), now=time.time() - age_s)
        await seeded.finish_event("logentic", event_id, now=time.time() - age_s)
    await seeded.close()

    gateway = await make_gateway(idempotency__webhook_ttl_s=86400)  # housekeeping runs at start
    store = gateway.server.app[STORE]

    async def redelivery_is_new() -> bool:
        return await store.record_event(event("e-old"), now=time.time())

    await eventually(redelivery_is_new)
    assert await store.record_event(event("e-recent"), now=time.time()) is False


# polling -----------------------------------------------------------------------------
async def test_poller_catches_a_lost_webhook(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(providers__logentic__status_poll_interval_s=0.2)
    body = await submit(gateway, ca_order("POLL-1"))
    logentic.sandbox.webhook_url = None  # every webhook from now on is lost
    await logentic.sandbox.advance(int(body["provider_order_id"]), "COMPLETED")

    delivered = await status_is(gateway, body["id"], "delivered")

    # The poll moved it. (The creation's own webhook may still arrive after the poll, late
    # under load: it is then kept as ignored news, so look at the last applied entry.)
    applied = [h for h in delivered["history"] if h["outcome"] == "applied"]
    assert applied[-1]["source"] == "poll"
    assert applied[-1]["status"] == "delivered"
    assert delivered["provider_status"] == "COMPLETED"


async def test_poller_leaves_final_orders_alone(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(providers__logentic__status_poll_interval_s=0.1)
    final = await submit(gateway, ca_order("POLL-2"))
    still_open = await submit(gateway, ca_order("POLL-3"))
    await logentic.sandbox.advance(int(final["provider_order_id"]), "COMPLETED")
    await status_is(gateway, final["id"], "delivered")

    # The gateway's own poller claims orders too (every 0.1 s): on PostgreSQL a row it holds
    # at this moment is skipped (SKIP LOCKED), so ask until the open order comes back.
    deadline = time.monotonic() + 5
    while not (
        due := await gateway.server.app[STORE].claim_for_poll(
            "logentic", now=time.time(), older_than=time.time() + 3600, limit=100
        )
    ):
        assert time.monotonic() < deadline, "the open order was never claimed"
        await asyncio.sleep(0.02)
    assert [r.id for r in due] == [still_open["id"]]  # never the delivered one


async def test_poller_leaves_a_provider_with_an_open_circuit_alone(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(
        providers__logentic__status_poll_interval_s=0.1,
        providers__logentic__circuit={"failure_threshold": 1, "cool_down_s": 60},
    )
    body = await submit(gateway, ca_order("POLL-3"))
    logentic.sandbox.inject(LogenticFault(op="get", status=503, count=None))

    async def circuit_open() -> bool:
        state = await read_json(await gateway.get("/v1/providers", headers=auth()))
        return any(p["name"] == "logentic" and p["circuit"] == "open" for p in state["providers"])

    await eventually(circuit_open)
    reads = logentic.sandbox.count("get")
    await clock.advance(0.5)  # several poll intervals, each round run
    assert logentic.sandbox.count("get") == reads
    assert (await view(gateway, body["id"]))["status"] == "submitted"


async def test_refresh_pulls_the_state_now(gateway: Gateway, logitrail: SandboxHandle) -> None:
    body = await submit(gateway, order("REF-1"))
    logitrail.sandbox.advance(body["provider_order_id"], "processing")

    resp = await gateway.post(f"/v1/orders/{body['id']}/refresh", headers=auth())
    refreshed = await read_json(resp)

    assert resp.status == 200
    assert (refreshed["status"], refreshed["provider_status"]) == ("in_progress", "processing")
    assert refreshed["history"][-1]["source"] == "api"


# cancel ------------------------------------------------------------------------------
async def test_cancel_at_logitrail_while_it_allows(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CAN-1"))

    resp = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    cancelled = await read_json(resp)

    assert resp.status == 200, cancelled
    assert cancelled["status"] == "cancelled"
    assert logitrail.sandbox.orders[body["provider_order_id"]].status == "cancelled"
    again = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    assert again.status == 200  # cancelling twice answers the cancelled order
    assert order_calls(logitrail).count("cancel") == 1


async def test_cancel_refused_by_logitrail_after_picking_is_409_with_its_reason(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CAN-2"))
    logitrail.sandbox.advance(body["provider_order_id"], "processing")

    resp = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    problem = await read_json(resp)

    assert resp.status == 409
    assert resp.content_type == "application/problem+json"
    assert problem["code"] == "not-cancellable"
    assert problem["provider_code"] == "order_already_processing"
    assert "processing" in problem["detail"]
    # the refusal taught the gateway where the order stands
    assert (await view(gateway, body["id"]))["status"] == "in_progress"


async def test_cancel_at_logentic_only_while_pending(
    gateway: Gateway, logentic: LogenticHandle
) -> None:
    pending = await submit(gateway, ca_order("CAN-3"))
    picked = await submit(gateway, ca_order("CAN-4"))
    await logentic.sandbox.advance(int(picked["provider_order_id"]), "PICKED")

    ok = await gateway.post(f"/v1/orders/{pending['id']}/cancel", headers=auth())
    refused = await gateway.post(f"/v1/orders/{picked['id']}/cancel", headers=auth())

    assert ok.status == 200
    assert logentic.sandbox.orders[int(pending["provider_order_id"])].status == "CANCELLED"
    assert refused.status == 409
    assert (await read_json(refused))["code"] == "not-cancellable"
    assert logentic.sandbox.orders[int(picked["provider_order_id"])].status == "PICKED"


async def test_cancel_of_a_queued_order_never_reaches_the_provider(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    # The submitter looks for due orders at start-up and then only every minute.
    gateway = await make_gateway(submission__poll_interval_s=60)
    store = gateway.server.app[STORE]
    await clock.sleeping("submitter")  # its start-up round is over
    queued = await store.insert_order(
        NewOrder(
            id="ord_01QUEUEDQUEUEDQUEUEDQUEUED",
            client_id="storefront-fi",
            external_id="Q-1",
            provider="logitrail",
            warehouse="FI-VANTAA",
            route_rule="nordics",
            route_candidate=0,
            body=orjson.dumps(order("Q-1")).decode(),
        ),
        now=time.time(),
        idempotency=None,
        lease_owner=None,
        lease_until=None,
    )

    resp = await gateway.post(f"/v1/orders/{queued.id}/cancel", headers=auth())
    cancelled = await read_json(resp)

    assert resp.status == 200, cancelled
    assert (cancelled["status"], cancelled["submission"]["phase"]) == ("cancelled", "cancelled")
    due = await store.claim_due(owner="t", now=time.time() + 3600, lease_until=0, limit=10)
    assert queued.id not in [r.id for r in due]
    assert order_calls(logitrail) == []


async def test_cancel_at_flexport_until_fulfilment_starts_and_no_change_at_all(
    make_gateway: Callable[..., Any], flexport: FlexportHandle
) -> None:
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES)
    early = await submit(gateway, gb_order("FXC-1"))
    picking = await submit(gateway, gb_order("FXC-2"))
    await flexport.sandbox.advance(picking["provider_order_id"], "PICKING")

    ok = await gateway.post(f"/v1/orders/{early['id']}/cancel", headers=auth())
    refused = await gateway.post(f"/v1/orders/{picking['id']}/cancel", headers=auth())
    change = await gateway.patch(
        f"/v1/orders/{picking['id']}", json={"not_after": "2026-12-24"}, headers=auth()
    )

    assert (ok.status, (await read_json(ok))["status"]) == (200, "cancelled")
    assert refused.status == 409
    problem = await read_json(refused)
    assert (problem["code"], problem["provider_code"]) == ("not-cancellable", "407001")
    assert problem["status"] == 409
    assert problem["order_status"] == "in_progress"  # read after the refusal
    assert change.status == 409
    assert "does not change orders" in (await read_json(change))["detail"]


async def test_order_queued_behind_an_open_circuit_is_cancelled_in_the_gateway(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(
        providers__logitrail__circuit={"failure_threshold": 1, "cool_down_s": 60},
        server__request_budget_s=0.5,
    )
    logitrail.sandbox.inject(Fault(op="*", status=503, count=None))  # provider down
    await gateway.post("/v1/orders", json=order("Q-1"), headers=auth(key="k-Q-1"))  # opens it
    resp = await gateway.post("/v1/orders", json=order("Q-2"), headers=auth(key="k-Q-2"))
    queued = await read_json(resp)
    assert resp.status == 202
    await clock.advance(0.2)  # the submitter looks at it a few times meanwhile

    # While the submitter holds the order's lease (it looks at the queue now and then) a
    # cancel is `409 submission-in-progress`, "retry shortly": a client retries, so do we.
    deadline = time.monotonic() + 10
    while True:
        cancel = await gateway.post(f"/v1/orders/{queued['id']}/cancel", headers=auth())
        cancelled = await read_json(cancel)
        if cancel.status != 409 or cancelled["code"] != "submission-in-progress":
            break
        assert time.monotonic() < deadline, cancelled
        await asyncio.sleep(0.05)

    assert cancel.status == 200, cancelled
    assert (cancelled["status"], cancelled["submission"]["phase"]) == ("cancelled", "cancelled")
    logitrail.sandbox.clear_faults()
    assert logitrail.sandbox.orders_by_merchant_order(ref("Q-2")) == []
    assert [r.body for r in logitrail.sandbox.requests if r.op == "create"] == [
        r.body for r in logitrail.sandbox.requests if r.op == "create" and "Q-1" in str(r.body)
    ]


async def test_another_tenant_cannot_cancel(gateway: Gateway, logitrail: SandboxHandle) -> None:
    body = await submit(gateway, order("CAN-5"))
    resp = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth("storefront-se"))
    assert resp.status == 404
    assert "cancel" not in order_calls(logitrail)


# change ------------------------------------------------------------------------------
async def test_change_the_address_while_logitrail_allows(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CHG-1"))
    address = {**body["order"]["address"], "line1": "Aleksanterinkatu 5", "postal_code": "00170"}

    resp = await gateway.patch(
        f"/v1/orders/{body['id']}", json={"address": address}, headers=auth()
    )
    changed = await read_json(resp)

    assert resp.status == 200, changed
    assert changed["order"]["address"]["line1"] == "Aleksanterinkatu 5"
    held = logitrail.sandbox.orders[body["provider_order_id"]].body
    assert (held["customer"]["address"], held["customer"]["postalCode"]) == (
        "Aleksanterinkatu 5",
        "00170",
    )


async def test_change_refused_once_picking_started_is_409_and_keeps_the_order(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CHG-2"))
    logitrail.sandbox.advance(body["provider_order_id"], "processing")

    resp = await gateway.patch(
        f"/v1/orders/{body['id']}", json={"not_after": "2026-12-24"}, headers=auth()
    )

    assert resp.status == 409
    assert (await read_json(resp))["code"] == "not-changeable"
    assert (await view(gateway, body["id"]))["order"]["not_after"] is None


async def test_a_change_the_provider_refuses_is_a_422_naming_the_line_and_keeps_the_order(
    gateway: Gateway, logentic: LogenticHandle
) -> None:
    body = await submit(gateway, ca_order("CHG-4"))
    lines = [{"sku": "NO-SUCH-SKU", "quantity": 1}]

    resp = await gateway.patch(f"/v1/orders/{body['id']}", json={"lines": lines}, headers=auth())
    problem = await read_json(resp)

    assert resp.status == 422, problem
    assert problem["code"] == "provider-rejected"
    assert problem["provider_code"] == "unknown-sku"
    assert [e["loc"] for e in problem["errors"]] == ["lines[0].sku"]
    assert (await view(gateway, body["id"]))["order"]["lines"] == body["order"]["lines"]


async def test_a_canonical_field_a_change_cannot_take_is_named_as_such_not_as_unknown(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    """`currency` (and every other canonical field PATCH leaves out) is `field-immutable`
    naming the field; a field no order has stays an unknown field. The order is untouched."""
    body = await submit(gateway, order("CHG-5", currency="EUR"))
    url = f"/v1/orders/{body['id']}"
    fixed = {
        "external_id": "CHG-6",
        "kind": "b2b",
        "channel": "web",
        "ordered_at": "2026-01-02T10:00:00Z",
        "currency": "USD",
        "language": "en",
        "delivery": {"type": "home"},
        "tags": ["vip"],
        "metadata": {"cart": "c-1"},
        "routing": {"provider": "logitrail", "warehouse": "FI-VANTAA"},
    }

    for name, value in fixed.items():
        resp = await gateway.patch(url, json={name: value}, headers=auth())
        problem = await read_json(resp)
        assert resp.status == 422, (name, problem)
        assert problem["code"] == "field-immutable", (name, problem)
        assert problem["errors"] == [
            {
                "loc": name,
                "msg": f"{name} cannot be changed after submission",
                "rule": "field-immutable",
            }
        ]
        assert f"{name} cannot be changed after submission" in problem["detail"]

    resp = await gateway.patch(url, json={"currency": "USD", "colour": "red"}, headers=auth())
    problem = await read_json(resp)
    assert (resp.status, problem["code"]) == (422, "validation")
    by_loc = {e["loc"]: e for e in problem["errors"]}
    assert by_loc["currency"]["rule"] == "field-immutable"
    assert by_loc["colour"]["msg"] == "unknown field (the canonical order does not have it)"
    assert (await view(gateway, body["id"]))["order"]["currency"] == "EUR"
    assert "update" not in order_calls(logitrail)


async def test_change_is_validated_like_an_order(
    gateway: Gateway, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CHG-3"))
    bad = await gateway.patch(
        f"/v1/orders/{body['id']}", json={"lines": [], "external_id": "X"}, headers=auth()
    )
    empty = await gateway.patch(f"/v1/orders/{body['id']}", json={}, headers=auth())

    assert bad.status == 422
    locs = {e["loc"] for e in (await read_json(bad))["errors"]}
    assert {"lines", "external_id"} <= locs
    assert empty.status == 422
    assert "update" not in order_calls(logitrail)
