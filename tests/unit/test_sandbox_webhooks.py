"""The sandboxes' shared webhook poster: in order per order, retried, every attempt recorded;
Logitrail numbers its retries in the envelope, Logentic resends the very same bytes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.sandbox.harness.webhooks import OutboundWebhook, WebhookPoster
from gateway.sandbox.logentic.webhooks import WebhookSender as LogenticSender
from gateway.sandbox.logitrail.state import SandboxOrder
from gateway.sandbox.logitrail.webhooks import WebhookSender as LogitrailSender


@dataclass
class Receiver:
    url: str = ""
    refuse: int = 0
    """Answer 503 to this many requests first."""
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def hook(request: web.Request) -> web.Response:
        rec.bodies.append(await request.read())
        if rec.refuse > 0:
            rec.refuse -= 1
            return web.Response(status=503)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    rec.url = str(server.make_url("/hook"))
    yield rec
    await server.close()


def event(url: str, n: int) -> OutboundWebhook:
    return OutboundWebhook(url, f"e{n}", "t", orjson.dumps({"n": n}), {})


async def test_events_of_one_key_go_out_in_order_through_retries(receiver: Receiver) -> None:
    poster = WebhookPoster("test", clock=time.time, timeout_s=5)
    poster.retry_delays_s = (0.01, 0.01, 0.01)
    receiver.refuse = 2  # the first event needs three attempts
    for n in range(3):
        poster.queue("order-1", event(receiver.url, n))
    await poster.drain()
    await poster.close()

    assert [orjson.loads(b)["n"] for b in receiver.bodies] == [0, 0, 0, 1, 2]
    assert [(d.event_id, d.attempt, d.status) for d in poster.deliveries] == [
        ("e0", 1, 503),
        ("e0", 2, 503),
        ("e0", 3, 200),
        ("e1", 1, 200),
        ("e2", 1, 200),
    ]


async def test_gives_up_after_the_last_delay_and_goes_on(receiver: Receiver) -> None:
    poster = WebhookPoster("test", clock=time.time, timeout_s=5)
    poster.retry_delays_s = (0.01,)
    receiver.refuse = 5
    poster.queue("k", event(receiver.url, 0))
    poster.queue("k", event(receiver.url, 1))
    await poster.drain()
    await poster.close()
    assert [(d.event_id, d.status) for d in poster.deliveries] == [
        ("e0", 503),
        ("e0", 503),
        ("e1", 503),
        ("e1", 503),
    ]


async def test_logitrail_counts_retries_in_the_envelope(receiver: Receiver) -> None:
    sender = LogitrailSender(url=receiver.url, clock=time.time)
    sender.retry_delays_s = (0.01, 0.01)
    receiver.refuse = 2
    order = SandboxOrder("a" * 24, "SHOP-1", {}, "confirmed", None, None, 0.0, 0.0)
    sender.announce(order)
    await sender.drain()
    await sender.close()

    envelopes = [orjson.loads(b) for b in receiver.bodies]
    assert [e["retry_count"] for e in envelopes] == [0, 1, 2]
    assert len({e["event_id"] for e in envelopes}) == 1
    assert [d.body for d in sender.deliveries] == receiver.bodies


async def test_logentic_resends_the_same_signed_bytes(receiver: Receiver) -> None:
    sender = LogenticSender(secret="s3cret", url=receiver.url, clock=time.time)
    sender.retry_delays_s = (0.01,)
    receiver.refuse = 1
    event_id = sender.announce("order-picked", 7, {"id": 7, "status": "PICKED"})
    await sender.drain()
    assert len(receiver.bodies) == 2
    assert receiver.bodies[0] == receiver.bodies[1]
    assert event_id is not None
    assert await sender.redeliver(event_id) == 200
    await sender.close()
    assert receiver.bodies[2] == receiver.bodies[0]
