"""The idempotency fingerprint: a hash of the *parsed* canonical order.

Hashing the validated model (not the raw bytes) makes the fingerprint independent of JSON key
order, whitespace and fields given at their default value.
"""

from __future__ import annotations

import hashlib

import orjson

from gateway.model.orders import CanonicalOrder


def fingerprint(order: CanonicalOrder) -> str:
    canonical = orjson.dumps(order.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
