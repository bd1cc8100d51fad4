"""`make run`'s own configuration: the in-process sandboxes move orders along their lives and
tell the gateway by webhook, so the demo's orders reach `shipped` (Logitrail) and
`delivered` (Logentic, Flexport) with nobody touching them."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.config import parse
from tests.integration.test_after_submission import eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO_ENV = {  # what the Makefile's DEMO_ENV sets
    "GATEWAY_KEY_STOREFRONT_FI": "demo-storefront-fi-key",
    "LOGITRAIL_CLIENT_ID": "demo-gateway",
    "LOGITRAIL_CLIENT_SECRET": "demo-secret",
    "LOGENTIC_API_TOKEN": "demo-logentic-token",
    "LOGENTIC_WEBHOOK_SECRET": "demo-webhook-secret",
    "LOGITRAIL_WEBHOOK_TOKEN": "demo-logitrail-webhook-token",
    "FLEXPORT_TOKEN": "demo-flexport-token",
    "FLEXPORT_WEBHOOK_SECRET": "demo-flexport-webhook-token",
}
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
