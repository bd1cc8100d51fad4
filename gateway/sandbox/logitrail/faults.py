"""Logitrail's fault rules: the shared `Fault` with Logitrail's op names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.sandbox.harness import Fault as _Fault

from .api import OPS


@dataclass  # orjson serialises only classes that are themselves dataclasses
class Fault(_Fault):
    """A fault rule for the Logitrail sandbox (see `gateway.sandbox.harness.faults`).

    `op`: token, create, update, confirm, get, find, cancel, return_create, return_list,
    return_get, return_cancel, return_decision, or ``"*"``.
    """

    ops: ClassVar[frozenset[str]] = OPS
