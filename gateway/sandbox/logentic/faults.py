"""Logentic's fault rules: the shared `Fault` with Logentic's op names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.sandbox.harness import Fault as _Fault

from .api import OPS


@dataclass  # orjson serialises only classes that are themselves dataclasses
class Fault(_Fault):
    """A fault rule for the Logentic sandbox (see `gateway.sandbox.harness.faults`).

    `op`: create, list, get, update, items, item, create_item, quantities, or ``"*"``.
    """

    ops: ClassVar[frozenset[str]] = OPS
