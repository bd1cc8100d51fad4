"""`make run`'s own configuration: the in-process sandboxes move orders along their lives and
tell the gateway by webhook, so the demo's orders reach `shipped` (Logitrail) and
`delivered` (Logentic, Flexport) with nobody touching them, and the demo subscriber receives
every event. The README's walk-through itself is run as written by
tests/system/test_readme_examples.py."""

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
from gateway.config_load import load, parse
from tests.integration.test_after_submission import eventually
from tests.makefile import DEMO_ENV

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer demo-storefront-fi-key"}
END = {  # where each sample order's provider takes it (Logitrail has no "delivered")
    "sample-order": "shipped",
    "sample-order-ca": "delivered",
    "sample-order-b2b": "delivered",
    "sample-order-split": "delivered",  # both parts (Logentic MTL and TOR) delivered
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
        split = views["sample-order-split"]["parts"]
        assert [(p["warehouse"], p["lines"]) for p in split] == [
            ("MTL", [{"sku": "CAP", "quantity": 1}]),
            ("TOR", [{"sku": "SCARF", "quantity": 2}]),
        ]
        assert [p["status"] for p in split] == ["delivered", "delivered"]
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
