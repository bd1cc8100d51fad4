"""Who did it, through the real app and the Logitrail sandbox, on SQLite and on PostgreSQL:
every history entry and event names its `source` and `actor`; a client's cancel is the
client's whichever report of it arrives first; a change and a decision leave an entry and an
event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gateway.api.keys import PROVIDERS, SETTINGS, STORE
from gateway.sandbox.logitrail import Fault
from gateway.workers.poller import StatusPoller
from tests.conftest import LOGITRAIL_WEBHOOK_TOKEN, SandboxHandle, auth, eventually, order
from tests.conftest import read_json as body_of
from tests.integration.test_after_submission import status_is, submit, view
from tests.integration.test_events_out import Receiver, feed, receiver, subscriber
from tests.integration.test_returns import placed, returned
from tests.unit.fakes import FakeClock

__all__ = ["receiver"]  # the subscriber endpoint fixture, shared with test_events_out

FI = "storefront-fi"
HOOK = f"/v1/webhooks/logitrail?token={LOGITRAIL_WEBHOOK_TOKEN}"


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def with_webhooks(make_gateway: Callable[..., Any], logitrail: SandboxHandle) -> Any:
    gateway = await make_gateway(providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN")
    logitrail.sandbox.webhook_url = str(gateway.make_url(HOOK))
    return gateway


def entries(history: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(h["status"], h["source"], h["actor"], h["outcome"]) for h in history]


async def events_of(gateway: Any, subject: str) -> list[dict[str, Any]]:
    items = (await feed(gateway))["items"]
    return [e for e in items if subject in (e["data"].get("order_id"), e["data"].get("return_id"))]


async def test_every_step_of_an_orders_life_names_who_did_it(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await with_webhooks(make_gateway, logitrail)
    body = await submit(gateway, order("LIFE-1"))  # api, then the submitter
    pid = body["provider_order_id"]
    address = {**body["order"]["address"], "line1": "Aleksanterinkatu 5"}
    patched = await gateway.patch(
        f"/v1/orders/{body['id']}", json={"address": address}, headers=auth()
    )
    assert patched.status == 200, await body_of(patched)
    logitrail.sandbox.advance(pid, "processing")  # a webhook tells
    await status_is(gateway, body["id"], "in_progress")
    logitrail.sandbox.webhook_url = None
    logitrail.sandbox.advance(pid, "processed")  # only a poll finds out
    app = gateway.server.app
    later = time.time() + 3600  # every order is due for a poll then
    poller = StatusPoller(
        app[STORE], app[PROVIDERS], app[SETTINGS].providers, clock=FakeClock(wall=later)
    )
    assert await poller.poll("logitrail") == 1
    logitrail.sandbox.advance(pid, "returning")
    refreshed = await gateway.post(f"/v1/orders/{body['id']}/refresh", headers=auth())
    assert refreshed.status == 200

    history = (await view(gateway, body["id"]))["history"]
    assert all(h["source"] and h["actor"] for h in history), history
    assert [e for e in entries(history) if e[3] != "ignored"] == [
        ("accepted", "api", FI, "applied"),
        ("submitted", "submitter", "submitter", "applied"),
        ("submitted", "api", FI, "unchanged"),
        ("in_progress", "webhook", "logitrail", "applied"),
        ("shipped", "poll", "logitrail", "applied"),
        ("exception", "api", FI, "applied"),
    ]
    events = await events_of(gateway, body["id"])
    assert [(e["type"], e["data"]["source"], e["data"]["actor"]) for e in events] == [
        ("order.accepted", "api", FI),
        ("order.submitted", "submitter", "submitter"),
        ("order.updated", "api", FI),
        ("order.status_changed", "webhook", "logitrail"),
        ("order.status_changed", "poll", "logitrail"),
        ("order.status_changed", "api", FI),
    ]


# a client's cancel, and the provider's webhook about it -------------------------------------
async def test_a_cancel_whose_webhook_arrives_before_the_answer_is_the_clients(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await with_webhooks(make_gateway, logitrail)
    body = await submit(gateway, order("HC-1"))
    # Logitrail cancels the order and announces it; its answer to the call is held back.
    logitrail.sandbox.inject(Fault(op="cancel", after=True, hold=True))
    call = asyncio.create_task(gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth()))

    by_webhook = await status_is(gateway, body["id"], "cancelled")
    logitrail.sandbox.release("cancel")
    resp = await call

    assert resp.status == 200, await body_of(resp)
    assert (await body_of(resp))["status"] == "cancelled"
    for history in (by_webhook["history"], (await view(gateway, body["id"]))["history"]):
        [cancelled] = [h for h in history if h["status"] == "cancelled"]
        assert (cancelled["source"], cancelled["actor"], cancelled["outcome"]) == (
            "api",
            FI,
            "applied",
        )
        assert cancelled["detail"].startswith(
            "cancelled by the client (reported first by webhook logitrail: order.info.change"
        )
    [event] = [e for e in await events_of(gateway, body["id"]) if e["type"] == "order.cancelled"]
    assert (event["data"]["source"], event["data"]["actor"]) == ("api", FI)


async def test_a_cancel_whose_webhook_arrives_after_the_answer_stays_the_clients(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await with_webhooks(make_gateway, logitrail)
    logitrail.sandbox.webhook_url = None  # its webhook comes only after the answer, below
    body = await submit(gateway, order("HC-2"))
    resp = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    assert resp.status == 200, await body_of(resp)

    # Logitrail's webhook about it comes late (Logitrail's envelope, as its sandbox sends it).
    news = {"order": {"id": body["provider_order_id"], "status": "cancelled"}}
    envelope = {"event_id": "late-1", "event_type": "order.info.change", "payload": news}
    hook = await gateway.post(HOOK, data=orjson.dumps([envelope]))
    assert await body_of(hook) == {"received": 1, "new": 1}
    store = gateway.server.app[STORE]

    async def applied() -> bool:
        return not await store.unapplied_events(limit=10, max_attempts=50)

    await eventually(applied)
    history = (await view(gateway, body["id"]))["history"]
    assert [e for e in entries(history) if e[0] == "cancelled"] == [
        ("cancelled", "api", FI, "applied")
    ]
    cancels = [e for e in await events_of(gateway, body["id"]) if e["type"] == "order.cancelled"]
    assert [(e["data"]["source"], e["data"]["actor"]) for e in cancels] == [("api", FI)]


async def test_a_refused_cancel_leaves_a_later_cancellation_to_the_provider(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await with_webhooks(make_gateway, logitrail)
    body = await submit(gateway, order("HC-3"))
    logitrail.sandbox.advance(body["provider_order_id"], "processing")
    await status_is(gateway, body["id"], "in_progress")
    refused = await gateway.post(f"/v1/orders/{body['id']}/cancel", headers=auth())
    assert refused.status == 409

    logitrail.sandbox.advance(body["provider_order_id"], "cancelled")  # the warehouse's doing
    cancelled = await status_is(gateway, body["id"], "cancelled")

    assert entries(cancelled["history"])[-1] == ("cancelled", "webhook", "logitrail", "applied")


# a change and a decision ----------------------------------------------------------------------
async def test_a_change_leaves_an_entry_and_an_order_updated_event_naming_fields_only(
    gateway: Any, logitrail: SandboxHandle
) -> None:
    body = await submit(gateway, order("CH-1"))
    address = {**body["order"]["address"], "line1": "Aleksanterinkatu 5"}
    recipient = {**body["order"]["recipient"], "phone": "+358409999999"}

    resp = await gateway.patch(
        f"/v1/orders/{body['id']}",
        json={"recipient": recipient, "address": address},
        headers=auth(),
    )

    assert resp.status == 200, await body_of(resp)
    history = (await view(gateway, body["id"]))["history"]
    assert entries(history)[-1] == ("submitted", "api", FI, "unchanged")
    assert history[-1]["detail"] == "changed by the client: recipient, address"
    [event] = [e for e in await events_of(gateway, body["id"]) if e["type"] == "order.updated"]
    assert event["data"]["changed"] == ["recipient", "address"]
    assert (event["data"]["source"], event["data"]["actor"]) == ("api", FI)
    shown = orjson.dumps([history, event]).decode()
    assert "Aleksanterinkatu" not in shown
    assert "+358409999999" not in shown


async def test_a_decision_leaves_an_entry_and_a_return_decided_event_to_subscribers(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, receiver: Receiver
) -> None:
    receiver.status = 204
    gateway = await make_gateway(
        subscribers=[subscriber(receiver.url, events=["return.decided"])],
        events__dispatch_interval_s=0.02,
    )
    _, stays = await returned(
        gateway, {"order_id": (await placed(gateway, logitrail, "DEC-1"))["id"]}, "d1"
    )
    _, moves = await returned(
        gateway, {"order_id": (await placed(gateway, logitrail, "DEC-2"))["id"]}, "d2"
    )
    logitrail.sandbox.advance_return(moves["provider_return_id"], "pending_merchant_decision")

    for ret, code in ((stays, "to_shelf"), (moves, "resend")):
        resp = await gateway.post(
            f"/v1/returns/{ret['id']}/decision", json={"code": code}, headers=auth()
        )
        assert resp.status == 200, await body_of(resp)

    for ret, code, status in ((stays, "to_shelf", "registered"), (moves, "resend", "in_progress")):
        got = await body_of(await gateway.get(f"/v1/returns/{ret['id']}", headers=auth()))
        last = got["history"][-1]
        assert (last["status"], last["source"], last["actor"]) == (status, "api", FI)
        assert last["detail"].startswith(f"decision {code}; logitrail: ")
        [event] = [e for e in await events_of(gateway, ret["id"]) if e["type"] == "return.decided"]
        assert (event["data"]["decision"], event["data"]["status"]) == (code, status)
        assert (event["data"]["source"], event["data"]["actor"]) == ("api", FI)

    async def both_delivered() -> list[Any]:
        got = [orjson.loads(b) for _h, b in receiver.accepted()]
        return got if len(got) == 2 else []

    delivered = await eventually(both_delivered)
    assert sorted((p["type"], p["data"]["decision"], p["data"]["actor"]) for p in delivered) == [
        ("return.decided", "resend", FI),
        ("return.decided", "to_shelf", FI),
    ]
