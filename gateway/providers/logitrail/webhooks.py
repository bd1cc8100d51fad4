"""Logitrail webhooks: the legacy envelope, authenticated by a shared URL token.

Logitrail signs nothing, so it is registered to call the gateway's URL with a
secret `?token=` from `webhook_token_env`, compared in constant time — on the query alone, so
a wrong or missing token is refused before the body is read. A delivery is one envelope
`{event_id, event_type, webhook_id, ts, retry_count, payload}` or, for batch-enabled hooks,
an array of up to `MAX_BATCH`; a longer one is refused whole (nothing stored). `event_id` is
stable across retries and hooks (the dedupe key).
Order events carry `payload.order{id, merchants_order, status, tracking_code, tracking_url}`;
`order.shipped` adds `payload.shipment{id, carrier_tracking_code}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import WebhookRejected, WebhookTooLarge
from gateway.providers.base import ProviderEvent
from gateway.providers.logitrail.statuses import status_of

MAX_BATCH = 100
"""Envelopes Logitrail sends in one batch delivery at most."""


def verify(query: Mapping[str, str], token: str | None) -> None:
    given = query.get("token", "")
    if token is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise WebhookRejected("logitrail: missing or wrong ?token=")


def events(body: bytes) -> list[ProviderEvent]:
    data: Any = orjson.loads(body)
    envelopes = data if isinstance(data, list) else [data]
    if len(envelopes) > MAX_BATCH:
        raise WebhookTooLarge(
            f"logitrail: a batch holds at most {MAX_BATCH} envelopes, this one {len(envelopes)}"
        )
    out = []
    for env in envelopes:
        if not isinstance(env, dict) or not isinstance(env.get("event_id"), str | int):
            raise ValueError("logitrail: an envelope without event_id")
        payload = _object(env.get("payload"))
        order = _object(payload.get("order"))
        raw = order.get("status") if isinstance(order.get("status"), str) else None
        oid = order.get("id")
        shipment = _object(payload.get("shipment")).get("id")
        out.append(
            ProviderEvent(
                event_id=str(env["event_id"]),
                topic=str(env.get("event_type") or "unknown"),
                provider_order_id=str(oid) if isinstance(oid, str | int) else None,
                status=status_of(raw) if raw else None,
                raw_status=raw,
                tracking_code=_text(order.get("tracking_code")),
                tracking_url=_text(order.get("tracking_url")),
                shipment_ids=(str(shipment),) if isinstance(shipment, str | int) else (),
            )
        )
    return out


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
