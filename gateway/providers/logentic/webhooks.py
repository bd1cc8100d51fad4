"""Logentic webhooks: `Signature` HMAC over the raw body, `Logentic-Topic` routing.

Logentic's documentation shows `Signature: <hex signature>`, `Logentic-Api-Version: V1` and
`Logentic-Topic: order-completed`, and tells integrators to confirm the scheme; we verify
HMAC-SHA256 of the exact body bytes with the shared secret, accepting hex (as shown) or
base64, in constant time. A delivery without the header is refused before its body is read
(`precheck`). The body is `{"id": <event id>, "topic", "data": {order}}`; with no id the
body's hash is the dedupe key. The topic header is not signed, so the signed body's `topic`
wins and the header only fills in where the body has none. Deliveries are at least once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import WebhookRejected
from gateway.providers.base import ProviderEvent
from gateway.providers.logentic.statuses import TOPIC_STATUSES, status_of


def precheck(headers: Mapping[str, str], secret: str | None, *, header: str) -> str:
    """The signature header's value; refused when it is missing (or cannot be hex/base64)."""
    given = (headers.get(header) or "").strip()
    if secret is None or not given:
        raise WebhookRejected(f"logentic: missing {header} header")
    if not given.isascii():
        raise WebhookRejected(f"logentic: {header} is not a hex or base64 signature")
    return given


def verify(headers: Mapping[str, str], body: bytes, secret: str | None, *, header: str) -> None:
    given = precheck(headers, secret, header=header)
    assert secret is not None  # precheck refuses a delivery when no secret is configured
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not (
        hmac.compare_digest(given.lower().encode(), digest.hex().encode())
        or hmac.compare_digest(given.encode(), base64.b64encode(digest))
    ):
        raise WebhookRejected(f"logentic: {header} does not match the body")


def events(headers: Mapping[str, str], body: bytes, *, topic_header: str) -> list[ProviderEvent]:
    data: Any = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("logentic: a webhook body is a JSON object")
    found = data.get("data")
    order: dict[str, Any] = found if isinstance(found, dict) else {}
    topic = str(data.get("topic") or _header_topic(headers, topic_header) or "unknown").lower()
    raw = order.get("status") if isinstance(order.get("status"), str) else None
    raw = raw or TOPIC_STATUSES.get(topic)
    event_id = data.get("id")
    oid = order.get("id")
    return [
        ProviderEvent(
            event_id=str(event_id)
            if isinstance(event_id, str | int) and event_id != ""
            else "sha256:" + hashlib.sha256(body).hexdigest(),
            topic=topic,
            provider_order_id=str(oid) if isinstance(oid, str | int) else None,
            status=status_of(raw) if raw else None,
            raw_status=raw,
        )
    ]


def _header_topic(headers: Mapping[str, str], name: str) -> str | None:
    # Unsigned and stored as given: only printable ASCII is taken (the topics are names).
    value = (headers.get(name) or "").strip()
    return value if value.isascii() and value.isprintable() else None
