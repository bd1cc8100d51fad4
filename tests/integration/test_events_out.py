"""Events out: the tenant's feed, and Standard Webhooks to subscribers — signed, in order per
order, at least once through an outage, dead-lettered after the last attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.api.keys import STORE
from gateway.sandbox.logitrail import Fault
from tests.conftest import (
    SUBSCRIBER_SECRET,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    order,
    read_json,
)
from tests.integration.metrics_scrape import scrape
from tests.integration.shipping import ship_at_logitrail
from tests.integration.test_after_submission import eventually, status_is, submit
from tests.integration.test_openapi import conforms
from tests.unit.fakes import SkipAheadClock


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


@dataclass
class Receiver:
    """A subscriber endpoint: answers `status`, records every request it got."""

    url: str = ""
    status: int = 503
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b, s in self.received if 200 <= s < 300]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        rec.received.append((dict(request.headers), body, rec.status))
        return web.Response(status=rec.status)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    server = TestServer(app)
    await server.start_server()
    rec.url = str(server.make_url("/hooks"))
    try:
        yield rec
    finally:
        await server.close()


def subscriber(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "oms",
        "client": "storefront-fi",
        "url": url,
        "secret_env": "SUB_SECRET",
        "events": ["order.*"],
        "backoff_base_s": 0.02,
        "backoff_max_s": 0.1,
        **extra,
    }


async def feed(gateway: Any, client: str = "storefront-fi", after: str = "0") -> Any:
    resp = await gateway.get(f"/v1/events?after={after}&limit=500", headers=auth(client))
    assert resp.status == 200
    return await read_json(resp)


async def test_feed_holds_each_change_in_order_and_only_the_tenants_own(
    gateway: Any, logentic: LogenticHandle
) -> None:
    body = await submit(gateway, ca_order("EV-1"))
    await logentic.sandbox.advance(int(body["provider_order_id"]), "IN_TRANSIT")
    await logentic.sandbox.drain_webhooks()
    await status_is(gateway, body["id"], "shipped")

    page = await feed(gateway)
    mine = [e for e in page["items"] if e["data"]["order_id"] == body["id"]]
    assert [(e["type"], e["data"]["status"]) for e in mine] == [
        ("order.accepted", "accepted"),
        ("order.submitted", "submitted"),
        ("order.status_changed", "shipped"),
    ]
    assert mine[2]["data"]["previous_status"] == "submitted"
    assert mine[2]["data"]["source"] == "webhook"
    cursors = [int(e["cursor"]) for e in page["items"]]
    assert cursors == sorted(cursors)
    assert (await feed(gateway, "storefront-se"))["items"] == []
    rest = await feed(gateway, after=mine[0]["cursor"])
    assert [e["id"] for e in rest["items"]] == [e["id"] for e in page["items"][1:]]
    assert (await feed(gateway, after=page["next_after"]))["items"] == []


async def test_feed_query_is_checked(gateway: Any) -> None:
    bad = await gateway.get("/v1/events?after=abc&limit=0", headers=auth())
    assert bad.status == 400
    assert {e["loc"] for e in (await read_json(bad))["errors"]} == {"query.after", "query.limit"}
    assert (await gateway.get("/v1/events?limit=501", headers=auth())).status == 400
    assert (await gateway.get("/v1/events")).status == 401


async def test_ignored_news_makes_no_event(gateway: Any, logentic: LogenticHandle) -> None:
    body = await submit(gateway, ca_order("EV-2"))
    pid = int(body["provider_order_id"])
    await logentic.sandbox.advance(pid, "COMPLETED")
    await logentic.sandbox.advance(pid, "PICKED")  # a provider glitch: late, backwards
    await logentic.sandbox.drain_webhooks()

    async def ignored() -> bool:
        history = (await read_json(await gateway.get(f"/v1/orders/{body['id']}", headers=auth())))[
            "history"
        ]
        return history[-1]["outcome"] == "ignored"

    await eventually(ignored)
    types = [e["data"]["status"] for e in (await feed(gateway))["items"]]
    assert types == ["accepted", "submitted", "delivered"]


async def test_news_about_one_order_is_applied_in_the_order_it_arrived(
    gateway: Any, logentic: LogenticHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each delivery is applied by a task of its own: the later one must not overtake."""
    body = await submit(gateway, ca_order("EV-ORDER"))
    pid = int(body["provider_order_id"])
    store = gateway.server.app[STORE]
    find = store.find_by_provider_id
    first_applies = asyncio.Event()
    finds = 0

    async def first_one_slow(provider: str, provider_order_id: str) -> Any:
        nonlocal finds
        finds += 1
        if finds == 1:  # the "completed" delivery stalls until the "picked" one is in
            await first_applies.wait()
        return await find(provider, provider_order_id)

    monkeypatch.setattr(store, "find_by_provider_id", first_one_slow)
    await logentic.sandbox.advance(pid, "COMPLETED")
    await logentic.sandbox.advance(pid, "PICKED")  # late and backwards
    await logentic.sandbox.drain_webhooks()  # both answered (stored), neither applied yet
    first_applies.set()

    async def both_applied() -> list[dict[str, Any]] | None:
        got = await read_json(await gateway.get(f"/v1/orders/{body['id']}", headers=auth()))
        history: list[dict[str, Any]] = got["history"]
        return history if len(history) >= 4 else None

    history = await eventually(both_applied)
    assert [(h["status"], h["outcome"]) for h in history[-2:]] == [
        ("delivered", "applied"),
        ("in_progress", "ignored"),
    ]


async def test_cancel_writes_order_cancelled(gateway: Any, logitrail: SandboxHandle) -> None:
    body = await submit(gateway, order("EV-3"))
    await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    assert [e["type"] for e in (await feed(gateway))["items"]] == [
        "order.accepted",
        "order.submitted",
        "order.cancelled",
    ]


async def test_a_provider_refusal_writes_order_rejected(
    gateway: Any, logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(
        Fault(op="create", status=400, body={"code": "unknown", "message": "refused"})
    )
    resp = await gateway.post("/v1/orders", json=order("EV-4"), headers=auth(key="k-EV-4"))
    assert resp.status == 422
    events = (await feed(gateway))["items"]
    assert [e["type"] for e in events] == ["order.accepted", "order.rejected"]
    assert events[1]["data"]["previous_status"] == "accepted"


async def test_subscriber_down_for_a_while_gets_every_event_once_in_order(
    make_gateway: Callable[..., Any],
    logentic: LogenticHandle,
    receiver: Receiver,
    clock: SkipAheadClock,
) -> None:
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, max_attempts=100)],
        events__dispatch_interval_s=0.02,
    )
    orders = [await submit(gateway, ca_order(f"SUB-{i}")) for i in range(3)]
    for o in orders:
        await logentic.sandbox.advance(int(o["provider_order_id"]), "PICKED")
        await logentic.sandbox.advance(int(o["provider_order_id"]), "COMPLETED")
    await logentic.sandbox.drain_webhooks()
    for o in orders:
        await status_is(gateway, o["id"], "delivered")

    await eventually(lambda: _later(len(receiver.received) >= 10))  # failing for a while
    assert receiver.accepted() == []
    receiver.status = 204  # back up

    expected = (await feed(gateway))["items"]
    assert len(expected) == 3 * 4  # accepted, submitted, in_progress, delivered

    async def all_in() -> bool:
        return len(receiver.accepted()) >= len(expected)

    await eventually(all_in, timeout=10)
    await clock.advance(0.2)  # nothing more may come: ten dispatch rounds, each run
    accepted = receiver.accepted()
    ids = [h["webhook-id"] for h, _b in accepted]
    assert sorted(ids) == sorted(e["id"] for e in expected)  # every event, once
    verifier = Webhook(SUBSCRIBER_SECRET)
    payloads = [verifier.verify(b, h) for h, b in accepted]  # raises on a bad signature
    for o in orders:
        statuses = [p["data"]["status"] for p in payloads if p["data"]["order_id"] == o["id"]]
        assert statuses == ["accepted", "submitted", "in_progress", "delivered"]
    header = accepted[0][0]["webhook-signature"]
    assert header.startswith("v1,")
    deliveries = await read_json(await gateway.get("/v1/deliveries", headers=auth()))
    assert {d["state"] for d in deliveries["items"]} == {"delivered"}


async def test_forged_signature_does_not_verify() -> None:
    """The verifier the test relies on really refuses a body that was not signed so."""
    signer = Webhook(SUBSCRIBER_SECRET)
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign("evt_1", now, '{"a":1}'),
    }
    with pytest.raises(WebhookVerificationError):
        signer.verify(b'{"a":2}', headers)


async def test_last_failed_attempt_dead_letters_visibly_and_can_be_retried(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, receiver: Receiver
) -> None:
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, max_attempts=2, events=["order.cancelled"])],
        events__dispatch_interval_s=0.02,
    )
    body = await submit(gateway, order("DLQ-1"))
    await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())

    async def dead() -> Any:
        page = await read_json(await gateway.get("/v1/deliveries?state=dead", headers=auth()))
        return page["items"]

    [item] = await eventually(dead)
    assert item["event"]["type"] == "order.cancelled"
    assert (item["attempts"], item["last_status"]) == (2, 503)
    assert len(receiver.received) == 2
    other = await read_json(await gateway.get("/v1/deliveries", headers=auth("storefront-se")))
    assert other["items"] == []
    metrics = await scrape(gateway)
    assert metrics.value("gateway_webhooks_out_total", subscriber="oms", outcome="retry") == 1
    assert metrics.value("gateway_webhooks_out_total", subscriber="oms", outcome="dead") == 1
    assert metrics.value("gateway_webhooks_out_total", outcome="delivered") == 0

    receiver.status = 200
    retry = await gateway.post(f"/v1/deliveries/oms/{item['event']['id']}/retry", headers=auth())
    assert retry.status == 200
    await eventually(lambda: _later(bool(receiver.accepted())))
    payload = orjson.loads(receiver.accepted()[0][1])
    assert payload["id"] == item["event"]["id"]

    async def delivered() -> bool:
        page = await read_json(await gateway.get("/v1/deliveries?state=delivered", headers=auth()))
        return bool(page["items"])

    await eventually(delivered)
    metrics = await scrape(gateway)
    assert metrics.value("gateway_webhooks_out_total", subscriber="oms", outcome="delivered") == 1
    again = await gateway.post(f"/v1/deliveries/oms/{item['event']['id']}/retry", headers=auth())
    assert again.status == 409  # only a dead delivery is retried
    problem = await read_json(again)
    assert (problem["code"], problem["state"]) == ("not-dead", "delivered")


async def test_retrying_an_event_the_subscriber_has_no_delivery_of_is_404_not_409(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, receiver: Receiver
) -> None:
    """An event id nobody issued, or an event the subscriber never had (its `events` do not
    match it): there is no such delivery, so nothing to retry — 404, not `not-dead`."""
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, events=["order.cancelled"])],
        events__dispatch_interval_s=0.02,
    )
    await submit(gateway, order("DLQ-2"))
    [submitted] = [e for e in (await feed(gateway))["items"] if e["type"] == "order.submitted"]

    for event_id in ("evt_01JD5X7W2N8Q3K4M5P6R7S8T9V", submitted["id"]):
        resp = await gateway.post(f"/v1/deliveries/oms/{event_id}/retry", headers=auth())
        problem = await read_json(resp)
        assert resp.status == 404, problem
        assert problem["code"] == "not-found"
        assert problem["detail"] == f"subscriber oms has no delivery of event {event_id}"


async def _later(value: bool) -> bool:
    return value


async def test_event_and_cancel_answers_conform_to_the_openapi_document(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, receiver: Receiver
) -> None:
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, max_attempts=1)], events__dispatch_interval_s=0.02
    )
    spec = await read_json(await gateway.get("/openapi.json"))
    body = await submit(gateway, order("OAS-EV-1"))
    cancelled = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    conforms(spec, "/v1/orders/{id}/cancel", "post", 200, await read_json(cancelled))
    again = await gateway.patch(
        f"/v1/orders/{body['id']}", json={"not_after": "2026-12-24"}, headers=auth()
    )
    conforms(spec, "/v1/orders/{id}", "patch", 409, await read_json(again))
    conforms(spec, "/v1/events", "get", 200, await feed(gateway))

    async def dead() -> Any:
        page = await read_json(await gateway.get("/v1/deliveries?state=dead", headers=auth()))
        return page if page["items"] else None

    conforms(spec, "/v1/deliveries", "get", 200, await eventually(dead))


async def test_return_events_go_to_a_subscriber_of_return_star_only(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    receiver: Receiver,
    clock: SkipAheadClock,
) -> None:
    receiver.status = 204
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, events=["return.*"])],
        events__dispatch_interval_s=0.02,
    )
    placed = await ship_at_logitrail(gateway, logitrail, await submit(gateway, order("RET-EV-1")))
    resp = await gateway.post(
        "/v1/returns", json={"order_id": placed["id"]}, headers=auth(key="ret-ev-1")
    )
    created = await read_json(resp)
    assert resp.status == 201, created
    cancel = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    assert cancel.status == 200

    await eventually(lambda: _later(len(receiver.accepted()) >= 3))
    await clock.advance(0.2)  # nothing more may come: order.* is not subscribed
    verifier = Webhook(SUBSCRIBER_SECRET)
    payloads = [verifier.verify(b, h) for h, b in receiver.accepted()]
    assert [(p["type"], p["data"]["status"]) for p in payloads] == [
        ("return.created", "accepted"),
        ("return.status_changed", "registered"),
        ("return.cancelled", "cancelled"),
    ]
    assert {p["data"]["return_id"] for p in payloads} == {created["id"]}
