"""Gateway ids: `ord_`/`ret_` + a ULID, so ids sort by creation time (stable list order)."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """26-character ULID: 48-bit millisecond timestamp, 80 random bits, Crockford base32."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_order_id(now: float | None = None) -> str:
    return "ord_" + ulid(now)


def new_return_id(now: float | None = None) -> str:
    return "ret_" + ulid(now)
