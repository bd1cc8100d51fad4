"""What goes on the wire to a provider and what comes back, and the audit record of each
attempt (`record_attempt`): the transport's data, apart from its retry loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from multidict import CIMultiDictProxy

from gateway.errors import Unavailable
from gateway.observability.audit import Recorder
from gateway.transport.auth import Auth


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def correlation_id(self) -> str | None:
        return self.headers.get("x-correlation-id") or self.headers.get("x-request-id")

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One request as it goes on the wire, before credentials are added."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes | None
    params: Mapping[str, str] | None
    auth: Auth | None = None


def record_attempt(
    audit: Recorder | None,
    provider: str,
    op: str,
    out: Outbound,
    *,
    attempt: int,
    started: float,
    now: Callable[[], float],
    monotonic: Callable[[], float],
    resp: Response | None,
    exc: Unavailable | None,
) -> None:
    """One attempt of a provider call into the audit trail (a no-op without a recorder, or
    outside an audit subject: see `Recorder.record`)."""
    if audit is None:
        return
    if resp is not None:
        outcome = "ok" if resp.ok else "http_error"
    else:
        assert exc is not None
        # `_attempt` raises it from the TimeoutError itself (the message only says so)
        outcome = "timeout" if isinstance(exc.__cause__, TimeoutError) else "unreachable"
    url = out.url
    if out.params:
        url += "?" + urlencode(out.params)  # parsed again by the redactor: keep it a query
    audit.record(
        provider=provider,
        operation=op,
        method=out.method,
        url=url,
        request=out.data,
        status=None if resp is None else resp.status,
        response=None if resp is None else resp.body,
        latency_s=monotonic() - started,
        attempt=attempt,
        outcome=outcome,
        correlation_id=None if resp is None else resp.correlation_id,
        at=now(),
    )
