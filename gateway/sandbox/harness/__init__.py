"""What every provider sandbox shares: fault injection, holds, request records, control API."""

from gateway.sandbox.harness.calls import CORRELATION_HEADER, CallHarness, RecordedRequest
from gateway.sandbox.harness.control import (
    ControlError,
    add_control_routes,
    control_body,
    fault_from_json,
)
from gateway.sandbox.harness.faults import TIMEOUT, Effect, Fault, FaultBook, Holds

__all__ = [
    "CORRELATION_HEADER",
    "TIMEOUT",
    "CallHarness",
    "ControlError",
    "Effect",
    "Fault",
    "FaultBook",
    "Holds",
    "RecordedRequest",
    "add_control_routes",
    "control_body",
    "fault_from_json",
]
