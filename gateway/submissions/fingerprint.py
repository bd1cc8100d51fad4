"""The idempotency fingerprint: a hash of the *parsed* canonical order (or return).

Hashing the validated model (not the raw bytes) makes the fingerprint independent of JSON key
order, whitespace and fields given at their default value. Keys are scoped per client across
orders and returns, so a return's fingerprint is salted with its kind: an order's key reused
for a return is a different body (422), never a replay of the other resource.
"""

from __future__ import annotations

import hashlib

import orjson
from pydantic import BaseModel

from gateway.model.returns import CanonicalReturn


def fingerprint(body: BaseModel) -> str:
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    # Orders keep the unsalted hash, so keys stored before returns existed still replay.
    salt = b"return\n" if isinstance(body, CanonicalReturn) else b""
    return hashlib.sha256(salt + canonical).hexdigest()
