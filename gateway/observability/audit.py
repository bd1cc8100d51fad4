"""Provider exchanges (the audit trail): what was sent to a provider for an order, part or
return, and what it answered, one record per HTTP attempt.

The subject of the calls being made is a context variable, set by whoever calls a provider on
behalf of an order or return (`subject`); the transport records an attempt only while one is
set, so token requests and health or stock probes are never recorded. Records are buffered in
memory (bounded: past `MAX_BUFFERED` the oldest are dropped and counted) and written by the
store in batches that ride its other commits; bodies are cut at the configured limit and pass
through `Redactor` first, so no credential the process knows is ever stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import structlog
from prometheus_client.core import CounterMetricFamily, Metric

__all__ = ["Exchange", "Recorder", "Redactor", "Subject", "audited", "current", "subject"]

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")
C = TypeVar("C", bound="_Tenant")
MAX_BUFFERED = 10_000
SubjectKind = Literal["order", "return"]
REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(
    r"(access_?token|refresh_?token|id_?token|^token$|client_?secret|password|authorization"
    r"|secret|signature|api_?key|^key$|^sig$)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    client_id: str
    subject_id: str
    part: int | None = None
    correlation_id: str | None = None


_current: contextvars.ContextVar[Subject | None] = contextvars.ContextVar(
    "audit_subject", default=None
)


def current() -> Subject | None:
    return _current.get()


@contextlib.contextmanager
def subject(
    kind: SubjectKind,
    client_id: str,
    subject_id: str,
    *,
    part: int | None = None,
    correlation_id: str | None = None,
) -> Iterator[Subject]:
    """Provider calls made inside the block are recorded as exchanges of this subject."""
    if correlation_id is None:
        # The request that caused the calls, where there is one (the API binds it).
        bound = structlog.contextvars.get_contextvars().get("request_id")
        correlation_id = bound if isinstance(bound, str) else None
    s = Subject(kind, client_id, subject_id, part, correlation_id)
    token = _current.set(s)
    try:
        yield s
    finally:
        _current.reset(token)


class _Tenant(Protocol):
    @property
    def id(self) -> str: ...


def audited(
    kind: SubjectKind,
) -> Callable[
    [Callable[Concatenate[A, C, str, P], Coroutine[Any, Any, T]]],
    Callable[Concatenate[A, C, str, P], Coroutine[Any, Any, T]],
]:
    """A service method `(self, client, subject_id, …)` whose provider calls are recorded as
    exchanges of that order or return."""

    def wrap(
        fn: Callable[Concatenate[A, C, str, P], Coroutine[Any, Any, T]],
    ) -> Callable[Concatenate[A, C, str, P], Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def inner(self: A, client: C, subject_id: str, /, *args: P.args, **kw: P.kwargs) -> T:
            with subject(kind, client.id, subject_id):
                return await fn(self, client, subject_id, *args, **kw)

        return inner

    return wrap


@dataclass(frozen=True, slots=True)
class Exchange:
    client_id: str
    subject_kind: str
    subject_id: str
    part: int | None
    provider: str
    operation: str
    method: str
    path: str
    request_body: str | None
    request_truncated: bool
    response_status: int | None
    response_body: str | None
    response_truncated: bool
    latency_ms: float
    attempt: int
    outcome: str
    correlation_id: str | None
    at: float


class Redactor:
    """Removes the process's known secret values and token-like JSON keys from a body."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first: a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def body(self, data: bytes | None) -> str | None:
        if not data:
            return None
        try:
            text = orjson.dumps(_scrub(orjson.loads(data))).decode()
        except orjson.JSONDecodeError:
            text = data.decode("utf-8", "replace")
        return self.text(text)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def path(self, url: str) -> str:
        """`url`'s path and query, query values of secret-like parameters removed."""
        parts = urlsplit(url)
        if not parts.query:
            return self.text(parts.path)
        query = [
            (k, REDACTED if _SECRET_KEYS.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return self.text(urlunsplit(("", "", parts.path, urlencode(query), "")))


def _scrub(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _secret_key(k) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    # Cached: a provider's bodies use a small fixed set of keys.
    return _SECRET_KEYS.search(key) is not None


def _cut(text: str | None, limit: int) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    raw = text.encode()
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", "ignore"), True


class Recorder:
    """The in-memory buffer of exchanges not yet stored (one per process)."""

    def __init__(
        self,
        *,
        body_limit_bytes: int = 16384,
        redactor: Redactor | None = None,
        enabled: bool = True,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self.body_limit_bytes = body_limit_bytes
        self.redactor = redactor or Redactor()
        self.enabled = enabled
        self._buffer: deque[Exchange] = deque()
        self._max = max_buffered
        self.recorded = 0
        self.dropped = 0

    def record(
        self,
        *,
        provider: str,
        operation: str,
        method: str,
        url: str,
        request: bytes | None,
        status: int | None,
        response: bytes | None,
        latency_s: float,
        attempt: int,
        outcome: str,
        correlation_id: str | None,
        at: float,
    ) -> None:
        s = _current.get()
        if s is None or not self.enabled:
            return
        r = self.redactor
        req, req_cut = _cut(r.body(request), self.body_limit_bytes)
        resp, resp_cut = _cut(r.body(response), self.body_limit_bytes)
        if len(self._buffer) >= self._max:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(
            Exchange(
                client_id=s.client_id,
                subject_kind=s.kind,
                subject_id=s.subject_id,
                part=s.part,
                provider=provider,
                operation=operation,
                method=method,
                path=r.path(url),
                request_body=req,
                request_truncated=req_cut,
                response_status=status,
                response_body=resp,
                response_truncated=resp_cut,
                latency_ms=round(latency_s * 1000, 3),
                attempt=attempt,
                outcome=outcome,
                correlation_id=correlation_id or s.correlation_id,
                at=at,
            )
        )
        self.recorded += 1

    def drain(self) -> list[Exchange]:
        out = list(self._buffer)
        self._buffer.clear()
        return out

    def restore(self, batch: list[Exchange]) -> None:
        """Put back a drained batch the store refused (kept before newer records; the
        bound still holds, the oldest dropped first)."""
        room = max(0, self._max - len(self._buffer))
        kept = batch[len(batch) - room :] if room < len(batch) else batch
        self.dropped += len(batch) - len(kept)
        self._buffer.extendleft(reversed(kept))

    def __len__(self) -> int:
        return len(self._buffer)

    def collect(self) -> Iterator[Metric]:
        """A Prometheus collector: `gateway_exchanges_total{outcome="recorded"|"dropped"}`
        (dropped: pushed out of a full buffer before the store took them)."""
        family = CounterMetricFamily(
            "gateway_exchanges", "Provider exchanges buffered for the store", labels=["outcome"]
        )
        family.add_metric(["recorded"], self.recorded)
        family.add_metric(["dropped"], self.dropped)
        yield family
