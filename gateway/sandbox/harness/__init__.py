"""What every provider sandbox shares: its class, errors, faults, holds, records, control API.

| module | holds |
|---|---|
| `simulator.py` | `Simulator`: the base of every sandbox class (app, harness, Python controls) |
| | `Operation`: one route of a provider's API |
| `errors.py` | `HttpError`, the base of every error answer; `ErrorStyle`, a provider's wording |
| `faults.py` | `Fault` rules, the `FaultBook` that picks them, `Holds` (calls held) |
| `calls.py` | `CallHarness`: the middleware that records, faults and shields every API call |
| `control.py` | the shared `/_control/...` routes and the pieces a sandbox builds its own from |
| `records.py` | what the sandboxes' states share: timestamps, status checks, lookups |
| `webhooks.py` | `WebhookPoster`: webhooks to the gateway, in order per order, retried, recorded |
| | `WebhookControls`: a sandbox's Python controls over its poster and autopilot |
| `autopilot.py` | `Autopilot`: the demo mode walking orders through their lifecycle |
"""

from gateway.sandbox.harness.autopilot import Autopilot
from gateway.sandbox.harness.calls import CORRELATION_HEADER, RecordedRequest
from gateway.sandbox.harness.control import (
    ControlError,
    ControlRoute,
    control_body,
    control_object,
    deliveries_route,
    status_mover,
)
from gateway.sandbox.harness.errors import ErrorStyle, HttpError, json_response
from gateway.sandbox.harness.faults import TIMEOUT, Fault
from gateway.sandbox.harness.simulator import Operation, Simulator, op_names

__all__ = [
    "CORRELATION_HEADER",
    "TIMEOUT",
    "Autopilot",
    "ControlError",
    "ControlRoute",
    "ErrorStyle",
    "Fault",
    "HttpError",
    "Operation",
    "RecordedRequest",
    "Simulator",
    "control_body",
    "control_object",
    "deliveries_route",
    "json_response",
    "op_names",
    "status_mover",
]
