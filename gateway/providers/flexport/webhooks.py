"""Flexport webhooks: ids only, authenticated by a shared token, deduplicated on the event id.

Flexport documents no payload signature; a subscription (`POST /webhooks`) is made with
`authMethod` `TOKEN` (the token is sent in the header named `tokenHeader`) or `BASIC_AUTH`.
We accept the configured secret as that header's value (also as `Bearer <secret>`), or as the
password of `Authorization: Basic`, compared in constant time. The token is all there is to
check, and it is in the headers: `verify` runs before the body is read.

A delivery is one event object — the envelope `logisticsAccountId`, `logisticsEventId`,
`logisticsEventType`, `logisticsEventTime` plus `orderId`, `externalOrderId` (and a shipment's
`id`) — or a list of them. Order and shipment events carry ids only, so each becomes a
`ProviderEvent` with `status=None`: the gateway reads the order (Flexport: "call Get Order with
the orderId from the payload"). Events about other resources (inventory, inbounds, returns)
are acknowledged and dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import WebhookRejected
from gateway.providers.base import ProviderEvent


def verify(headers: Mapping[str, str], secret: str | None, *, header: str) -> None:
    if secret is None:
        raise WebhookRejected("flexport: no webhook secret configured")
    candidates = []
    given = (headers.get(header) or "").strip()
    if given:
        candidates.append(given.removeprefix("Bearer ").strip())
    authorization = (headers.get("Authorization") or "").strip()
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        candidates.append(decoded.partition(":")[2])
    if not candidates:
        raise WebhookRejected(f"flexport: missing {header} header")
    if not any(hmac.compare_digest(c.encode(), secret.encode()) for c in candidates):
        raise WebhookRejected(f"flexport: {header} does not match the configured secret")


def events(body: bytes) -> list[ProviderEvent]:
    data: Any = orjson.loads(body)
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise ValueError("flexport: a webhook body is an event object or a list of them")
    out = []
    for item in items:
        order_id = item.get("orderId")
        if not isinstance(order_id, str | int) or isinstance(order_id, bool) or order_id == "":
            continue  # not about an order (Inventory.Adjusted, Return.Updated, …)
        event_id = item.get("logisticsEventId")
        out.append(
            ProviderEvent(
                event_id=str(event_id)
                if isinstance(event_id, str | int) and event_id != ""
                else "sha256:"
                + hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest(),
                topic=str(item.get("logisticsEventType") or "unknown"),
                provider_order_id=str(order_id),
                status=None,
            )
        )
    return out
