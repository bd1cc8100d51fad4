"""Gateway ids: `ord_`/`ret_` + a ULID, so ids sort by creation time (stable list order)."""

from __future__ import annotations

import os

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float) -> str:
    """26-character ULID: 48-bit millisecond timestamp (`now`, wall time), 80 random bits,
    Crockford base32."""
    ms = int(now * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def ulid_floor(epoch: float) -> str:
    """The lowest ULID of `epoch`'s millisecond: every id made at or after it sorts above."""
    value = max(0, int(epoch * 1000)) << 80
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_order_id(now: float) -> str:
    return "ord_" + ulid(now)


def new_return_id(now: float) -> str:
    return "ret_" + ulid(now)
