"""`make run`'s own configuration: the in-process sandboxes move orders along their lives and
tell the gateway by webhook, so the demo's orders reach `shipped` (Logitrail) and
`delivered` (Logentic, Flexport) with nobody touching them; the demo subscriber receives
every event; and the README's walk-through (change, cancel, ship by hand, return, decide,
provider down) works on the shipped autopilot."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks.webhooks import Webhook

from gateway.app import build_app
from gateway.config import load, parse
from tests.integration.test_after_submission import eventually
from tests.makefile import DEMO_ENV

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer demo-storefront-fi-key"}
END = {  # where each sample order's provider takes it (Logitrail has no "delivered")
    "sample-order": "shipped",
    "sample-order-ca": "delivered",
    "sample-order-b2b": "delivered",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_demo_orders_advance_to_their_end_by_webhook(tmp_path: Path) -> None:
    data: dict[str, Any] = tomllib.loads((ROOT / "config/gateway.toml").read_text())
    data["store"]["url"] = f"sqlite:///{tmp_path}/demo.db"
    data["sandbox"]["autopilot_s"] = 0.05
    port = free_port()
    settings = parse(data, DEMO_ENV)
    app = build_app(settings, self_url=f"http://127.0.0.1:{port}")
    async with TestClient(TestServer(app, port=port)) as client:
        ids = {}
        for name in END:
            body = orjson.loads((ROOT / f"config/{name}.json").read_text())
            resp = await client.post(
                "/v1/orders", json=body, headers={**AUTH, "Idempotency-Key": name}
            )
            assert resp.status == 201, await resp.text()
            ids[name] = (await resp.json())["id"]

        async def at_the_end() -> Any:
            views = {
                n: await (await client.get(f"/v1/orders/{i}", headers=AUTH)).json()
                for n, i in ids.items()
            }
            done = {n: v["status"] for n, v in views.items()}
            return views if done == END else None

        views = await eventually(at_the_end, timeout=15)
        for view in views.values():
            assert view["history"][-1]["source"] == "webhook"
        assert views["sample-order"]["tracking"]["code"]
        feed = await (await client.get("/v1/events", headers=AUTH)).json()
        mine = [e for e in feed["items"] if e["data"]["order_id"] == ids["sample-order-ca"]]
        assert [e["data"]["status"] for e in mine] == [
            "accepted",
            "submitted",
            "in_progress",
            "shipped",
            "delivered",
        ]


def test_the_shipped_autopilot_leaves_a_fresh_order_a_minute_to_change_or_cancel() -> None:
    """The README's examples are read and typed by people: at 5 s a Logitrail order was
    `processing` (no longer changeable or cancellable) before the next command."""
    settings = load(ROOT / "config/gateway.toml", secrets_under=())
    assert settings.sandbox.autopilot_s is not None
    assert settings.sandbox.autopilot_s >= 60


def sample(name: str = "sample-order", external_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((ROOT / f"config/{name}.json").read_text())
    if external_id is not None:
        body["external_id"] = external_id
    return body


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    """The shipped config as `make run` serves it (its own autopilot), on a database of its own."""
    data: dict[str, Any] = tomllib.loads((ROOT / "config/gateway.toml").read_text())
    data["store"]["url"] = f"sqlite:///{tmp_path}/demo.db"
    port = free_port()
    app = build_app(parse(data, DEMO_ENV), self_url=f"http://127.0.0.1:{port}")
    async with TestClient(TestServer(app, port=port)) as client:
        yield client


async def submit(client: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(
        "/v1/orders", json=body, headers={**AUTH, "Idempotency-Key": f"demo-{body['external_id']}"}
    )
    assert resp.status == 201, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def test_the_demo_subscriber_receives_every_event_signed(
    demo: TestClient[Any, Any],
) -> None:
    order = await submit(demo, sample())

    async def received() -> Any:
        items = (await (await demo.get("/_sandbox/receiver/demo")).json())["items"]
        mine = [i["event"]["type"] for i in items if i["event"]["data"]["order_id"] == order["id"]]
        return mine if mine == ["order.accepted", "order.submitted"] else None

    await eventually(received, timeout=10)
    deliveries = await (await demo.get("/v1/deliveries?subscriber=demo", headers=AUTH)).json()
    assert {d["state"] for d in deliveries["items"]} == {"delivered"}
    assert len(deliveries["items"]) == 2

    # It verifies as a subscriber must: another key's signature is refused, nothing recorded.
    forged = Webhook("whsec_" + "A" * 43 + "=")
    body = orjson.dumps({"type": "order.accepted", "data": {"order_id": "ord_x"}}).decode()
    stamp = datetime.now(UTC)
    headers = {
        "webhook-id": "evt_forged",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": forged.sign("evt_forged", stamp, body),
    }
    resp = await demo.post("/_sandbox/receiver/demo", data=body, headers=headers)
    assert resp.status == 401
    items = (await (await demo.get("/_sandbox/receiver/demo")).json())["items"]
    assert "evt_forged" not in {i["webhook_id"] for i in items}
    assert (await demo.get("/_sandbox/receiver/nobody")).status == 404


async def test_the_readme_walkthrough_works_on_the_shipped_autopilot(
    demo: TestClient[Any, Any],
) -> None:
    """What the README's "Walk through the demo" does, step by step, with nobody waiting."""
    # change an order: the autopilot leaves a fresh one where the provider still allows it
    order = await submit(demo, sample(external_id="SHOP-1002"))
    recipient = {**sample()["recipient"], "last_name": "Korhonen"}
    resp = await demo.patch(
        f"/v1/orders/{order['id']}", json={"recipient": recipient}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["order"]["recipient"]["last_name"] == "Korhonen"

    # cancel one
    order = await submit(demo, sample(external_id="SHOP-1003"))
    resp = await demo.post(f"/v1/orders/{order['id']}/cancel", headers=AUTH)
    assert (resp.status, (await resp.json())["status"]) == (200, "cancelled")

    # ship one by hand at the sandbox, read it back, return it, let the goods arrive, decide
    order = await submit(demo, sample(external_id="SHOP-1004"))
    control = f"/_sandbox/logitrail/_control/orders/{order['provider_order_id']}/status"
    assert (await demo.post(control, data='{"status": "processed"}')).status == 200
    resp = await demo.post(f"/v1/orders/{order['id']}/refresh", headers=AUTH)
    assert (await resp.json())["status"] == "shipped"
    resp = await demo.post(
        "/v1/returns",
        json={"order_id": order["id"], "external_id": "RMA-1004"},
        headers={**AUTH, "Idempotency-Key": "demo-RMA-1004"},
    )
    assert resp.status == 201, await resp.text()
    ret = await resp.json()
    assert ret["status"] == "registered"
    control = f"/_sandbox/logitrail/_control/order-returns/{ret['provider_return_id']}/status"
    resp = await demo.post(control, data='{"status": "pending_merchant_decision"}')
    assert resp.status == 200
    resp = await demo.post(
        f"/v1/returns/{ret['id']}/decision", json={"code": "to_shelf"}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "in_progress"

    # provider down: the order is stored and answered 202, and submitted once it is back
    faults = "/_sandbox/logitrail/_control/faults"
    down = '{"op": "*", "count": null, "status": 503}'
    assert (await demo.post(faults, data=down)).status == 201
    resp = await demo.post(
        "/v1/orders",
        json=sample(external_id="SHOP-1005"),
        headers={**AUTH, "Idempotency-Key": "demo-SHOP-1005"},
    )
    assert resp.status == 202, await resp.text()
    assert (await demo.delete(faults)).status == 200
    queued = (await resp.json())["id"]

    async def submitted() -> Any:
        view = await (await demo.get(f"/v1/orders/{queued}", headers=AUTH)).json()
        return view["status"] == "submitted"

    await eventually(submitted, timeout=60)
