"""What every provider sandbox shares: fault injection, holds, request records, control API.

| module | holds |
|---|---|
| `faults.py` | `Fault` rules, the `FaultBook` that picks them, `Holds` (calls held) |
| `calls.py` | `CallHarness`: the middleware that records, faults and shields every API call |
| `control.py` | the shared `/_control/...` routes and the helpers a sandbox adds its own with |
| `controls.py` | `HarnessControls`: the same Python control methods on every sandbox class |
| `webhooks.py` | `WebhookPoster`: webhooks to the gateway, in order per order, retried, recorded |
| | `WebhookControls`: a sandbox's Python controls over its poster and autopilot |
| `autopilot.py` | `Autopilot`: the demo mode walking orders through their lifecycle |
"""

from gateway.sandbox.harness.autopilot import Autopilot
from gateway.sandbox.harness.calls import (
    CORRELATION_HEADER,
    CallHarness,
    RecordedRequest,
    control_route_name,
)
from gateway.sandbox.harness.control import (
    ControlError,
    add_control_route,
    add_control_routes,
    control_body,
    fault_from_json,
    json_response,
)
from gateway.sandbox.harness.controls import HarnessControls
from gateway.sandbox.harness.faults import TIMEOUT, Effect, Fault, FaultBook, Holds
from gateway.sandbox.harness.webhooks import WebhookControls

__all__ = [
    "CORRELATION_HEADER",
    "TIMEOUT",
    "Autopilot",
    "CallHarness",
    "ControlError",
    "Effect",
    "Fault",
    "FaultBook",
    "HarnessControls",
    "Holds",
    "RecordedRequest",
    "WebhookControls",
    "add_control_route",
    "add_control_routes",
    "control_body",
    "control_route_name",
    "fault_from_json",
    "json_response",
]
