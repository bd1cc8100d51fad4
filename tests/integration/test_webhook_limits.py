"""`POST /v1/webhooks/*` is unauthenticated: what it refuses before (and while) reading a body.

Most of these speak raw HTTP/1.1 on a socket to the real server, so a test can send headers
and then *not* send the body, trickle it, or send bytes no HTTP client library would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import (
    FLEXPORT_WEBHOOK_SECRET,
    LOGITRAIL_WEBHOOK_TOKEN,
    WEBHOOK_SECRET,
    auth,
    ca_order,
    eventually,
    read_json,
)
from tests.integration.metrics_scrape import scrape

Gateway = TestClient[Any, Any]
LOGITRAIL = f"/v1/webhooks/logitrail?token={LOGITRAIL_WEBHOOK_TOKEN}"
GUARD_S = 5.0
"""Only so that a missing fix fails the test instead of hanging it; never a speed check."""


@pytest.fixture
async def gateway(make_gateway: Callable[..., Any]) -> Gateway:
    client: Gateway = await make_gateway(
        providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN",
        server__webhook_body_timeout_s=0.3,
        server__webhook_max_body_bytes=4096,
    )
    return client


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Connection:
    """One HTTP/1.1 connection to the gateway: bytes out, a parsed answer back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> Reply:
        async with asyncio.timeout(GUARD_S):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in filter(None, lines):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(int(status_line.split()[1]), headers, body)

    async def closed_by_server(self) -> bool:
        async with asyncio.timeout(GUARD_S):
            with contextlib.suppress(ConnectionError):
                while await self.reader.read(65536):
                    pass
        return True


@contextlib.asynccontextmanager
async def connect(gateway: Gateway) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection(gateway.server.host, gateway.server.port)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def head(target: str, length: int, **headers: str | bytes) -> bytes:
    lines = [
        f"POST {target} HTTP/1.1".encode(),
        b"Host: gateway",
        b"Content-Type: application/json",
    ]
    lines += [
        name.replace("_", "-").encode() + b": " + (v if isinstance(v, bytes) else v.encode())
        for name, v in headers.items()
    ]
    lines.append(f"Content-Length: {length}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def envelope(event_id: str, provider_order_id: str = "LT-unknown") -> dict[str, Any]:
    payload = {"order": {"id": provider_order_id, "status": "processing"}}
    return {"event_id": event_id, "event_type": "order.info.change", "payload": payload}


def signed(body: bytes) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def outcomes(gateway: Gateway, provider: str) -> dict[str, float]:
    s = await scrape(gateway)
    return {
        lab["outcome"]: v
        for lab, v in s.samples_of("gateway_webhooks_in_total")
        if lab["provider"] == provider
    }


# 401 on the headers alone ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/v1/webhooks/logitrail?token=wrong", {}),
        ("/v1/webhooks/logitrail", {}),
        ("/v1/webhooks/logentic", {"Logentic_Topic": "order-picked"}),
        ("/v1/webhooks/flexport", {}),
        ("/v1/webhooks/flexport", {"X_Flexport_Webhook_Token": "guess"}),
    ],
    ids=[
        "logitrail-wrong-token",
        "logitrail-no-token",
        "logentic-no-signature",
        "flexport-no-token",
        "flexport-wrong-token",
    ],
)
async def test_a_missing_or_wrong_credential_is_401_before_a_byte_of_the_body(
    gateway: Gateway, target: str, headers: dict[str, str]
) -> None:
    async with connect(gateway) as conn:
        await conn.send(head(target, 100_000, **headers))  # …and the body never follows

        reply = await conn.reply()

    assert reply.status == 401
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "webhook-unauthenticated"
    assert reply.headers["connection"] == "close"  # the unread body is not waited for


async def test_expect_100_continue_gets_no_continue_without_a_credential(
    gateway: Gateway,
) -> None:
    async with connect(gateway) as conn:
        await conn.send(head("/v1/webhooks/logitrail?token=wrong", 50_000, Expect="100-continue"))
        refused = await conn.reply()
    async with connect(gateway) as conn:
        await conn.send(head(LOGITRAIL, 2, Expect="100-continue"))
        go_on = await conn.reply()
        await conn.send(b"[]")
        accepted = await conn.reply()

    assert refused.status == 401  # the first thing sent: the client never sends its body
    assert go_on.status == 100
    assert (accepted.status, accepted.json()) == (200, {"received": 0, "new": 0})


# the body: its size and its time ------------------------------------------------------------
async def test_a_trickling_body_is_cut_off_with_408_and_the_connection_closed(
    gateway: Gateway,
) -> None:
    before = await outcomes(gateway, "logitrail")
    body = orjson.dumps([envelope("e-slow")])

    async with connect(gateway) as conn:
        await conn.send(head(LOGITRAIL, len(body)))

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in body:
                    await conn.send(bytes([byte]))
                    await asyncio.sleep(0.05)

        trickler = asyncio.create_task(trickle())
        try:
            reply = await conn.reply()
            closed = await conn.closed_by_server()  # while the trickle goes on
        finally:
            trickler.cancel()

    assert reply.status == 408
    assert reply.json()["code"] == "webhook-body-timeout"
    assert reply.json()["detail"] == "the body did not arrive within 0.3 s"
    assert closed
    after = await outcomes(gateway, "logitrail")
    assert after.get("timeout", 0) - before.get("timeout", 0) == 1
    # Nothing of it was stored: the same event arriving whole is new.
    resp = await gateway.post(LOGITRAIL, data=body)
    assert await read_json(resp) == {"received": 1, "new": 1}


async def test_a_content_length_over_the_webhook_limit_is_413_before_reading(
    gateway: Gateway,
) -> None:
    async with connect(gateway) as conn:
        await conn.send(head(LOGITRAIL, 4097))  # the limit is 4096 here; no body sent
        reply = await conn.reply()

    assert reply.status == 413
    assert reply.json()["code"] == "payload-too-large"
    assert reply.json()["detail"] == "a webhook body is at most 4096 bytes"
    assert reply.headers["connection"] == "close"


async def test_a_chunked_body_over_the_webhook_limit_is_413(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"[" + b" " * 3000
        yield b" " * 3000 + b"]"  # no Content-Length: counted as it arrives

    resp = await gateway.post(LOGITRAIL, data=chunks())

    assert resp.status == 413
    assert (await read_json(resp))["code"] == "payload-too-large"
    assert (await outcomes(gateway, "logitrail"))["too_large"] == 1


async def test_the_webhook_limit_is_smaller_than_the_api_body_limit(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await make_gateway(providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN")
    padded = b"[" + b" " * (300 * 1024) + b"]"  # 300 KiB: under server.max_body_bytes (1 MiB)

    webhook = await gateway.post(LOGITRAIL, data=padded)
    api = await gateway.post(
        "/v1/orders",
        data=padded,
        headers={**auth(key="big"), "Content-Type": "application/json"},
    )

    assert webhook.status == 413  # the default webhook limit is 256 KiB
    assert (await read_json(webhook))["detail"] == "a webhook body is at most 262144 bytes"
    assert api.status == 422  # read whole, then refused for what it says


# what the body holds ------------------------------------------------------------------------
async def test_a_logitrail_batch_over_100_envelopes_is_refused_whole(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await make_gateway(providers__logitrail__webhook_token_env="LOGITRAIL_WEBHOOK_TOKEN")
    too_many = [envelope(f"e-{i}") for i in range(101)]

    refused = await gateway.post(LOGITRAIL, data=orjson.dumps(too_many))
    problem = await read_json(refused)
    assert refused.status == 413
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == "webhook-too-large"
    assert "at most 100 envelopes, this one 101" in problem["detail"]

    # None of them was stored: the first 100 arrive as new.
    accepted = await gateway.post(LOGITRAIL, data=orjson.dumps(too_many[:100]))
    assert await read_json(accepted) == {"received": 100, "new": 100}


async def test_logentic_trusts_the_signed_body_topic_not_the_header(gateway: Gateway) -> None:
    resp = await gateway.post("/v1/orders", json=ca_order("TOPIC-1"), headers=auth(key="t-1"))
    order = await read_json(resp)
    # The body (signed) says picked; the header (unsigned, anyone may change it) says cancelled.
    body = orjson.dumps(
        {"id": "e-topic", "topic": "order-picked", "data": {"id": int(order["provider_order_id"])}}
    )
    headers = {"Signature": signed(body), "Logentic-Topic": "order-cancelled"}

    resp = await gateway.post("/v1/webhooks/logentic", data=body, headers=headers)
    assert resp.status == 200

    async def moved() -> Any:
        view = await read_json(await gateway.get(f"/v1/orders/{order['id']}", headers=auth()))
        return view if view["status"] != "submitted" else None

    view = await eventually(moved)
    assert (view["status"], view["provider_status"]) == ("in_progress", "PICKED")
    details = [h["detail"] for h in view["history"] if h["source"] == "webhook"]
    assert "order-picked (PICKED)" in details
    assert not [d for d in details if "cancel" in (d or "")]


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/v1/webhooks/logentic", {"Signature": b"\xff\xfe" + b"00" * 31}),
        ("/v1/webhooks/flexport", {"X_Flexport_Webhook_Token": b"fx-\xe9\xff"}),
    ],
    ids=["logentic-signature", "flexport-token"],
)
async def test_a_credential_that_is_not_utf8_is_rejected_401_without_codec_text(
    gateway: Gateway, target: str, headers: dict[str, bytes]
) -> None:
    provider = target.rsplit("/", 1)[1]
    before = await outcomes(gateway, provider)
    body = b'{"id": "e-bytes", "data": {"id": 1}}'
    async with connect(gateway) as conn:
        await conn.send(head(target, len(body), **headers) + body)
        reply = await conn.reply()

    assert reply.status == 401
    problem = reply.json()
    assert problem["code"] == "webhook-unauthenticated"
    for codec_word in ("codec", "utf-8", "surrogate", "encode", "decode"):
        assert codec_word not in reply.body.decode().lower()
    after = await outcomes(gateway, provider)
    assert after.get("rejected", 0) - before.get("rejected", 0) == 1
    assert after.get("malformed", 0) == before.get("malformed", 0)


async def test_the_right_credentials_still_pass(gateway: Gateway) -> None:
    """The header checks refuse only what is refused: each provider's real credential."""
    body = orjson.dumps({"id": "e-ok", "data": {"id": 1}})
    logentic = await gateway.post(
        "/v1/webhooks/logentic", data=body, headers={"Signature": signed(body)}
    )
    flexport = await gateway.post(
        "/v1/webhooks/flexport",
        data=orjson.dumps({"logisticsEventId": "fx-1", "orderId": "1"}),
        headers={"X-Flexport-Webhook-Token": FLEXPORT_WEBHOOK_SECRET},
    )
    logitrail = await gateway.post(LOGITRAIL, data=orjson.dumps(envelope("e-ok")))

    assert [logentic.status, flexport.status, logitrail.status] == [200, 200, 200]
