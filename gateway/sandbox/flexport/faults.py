"""Flexport's fault rules: the shared `Fault` with Flexport's op names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.sandbox.harness import Fault as _Fault

from .api import OPS


@dataclass  # orjson serialises only classes that are themselves dataclasses
class Fault(_Fault):
    """A fault rule for the Flexport sandbox (see `gateway.sandbox.harness.faults`).

    `op`: create, get, find, cancel, b2b_create, b2b_get, b2b_find, b2b_cancel, return_create,
    return_list, return_get, return_cancel, products, inventory, inventory_by_warehouse,
    warehouses, or ``"*"``.
    """

    ops: ClassVar[frozenset[str]] = OPS
