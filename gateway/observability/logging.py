"""structlog set-up: JSON lines in production, pretty in a terminal, secrets redacted.

Events have dotted names (`provider.call.retry`) and facts as fields. `request_id` is bound
through `structlog.contextvars` by the request middleware, so every line a request causes —
including its provider calls — carries it. The redaction processor sits last but one, so no
renderer ever sees a secret, whichever module logged it.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"(authorization|token|secret|password|passwd|api[_-]?key|client[_-]?secret|cookie|"
    r"signature|credential)",
    re.IGNORECASE,
)
# Values that look like credentials even under an innocent key.
_SECRET_VALUE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# Credentials in URLs: Logitrail's webhook `?token=`, and the like.
_SECRET_QUERY = re.compile(
    r"([?&](?:token|access_token|api[_-]?key|key|secret|signature|sig)=)[^&#\s\"']+",
    re.IGNORECASE,
)
_SAFE_KEYS = frozenset({"token_expires_at", "token_requests", "token_url"})
# Neither value pattern can match a string without whitespace (of any kind) or `=`.
_MAY_HOLD_SECRET = re.compile(r"[=\s]")


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return value
    if isinstance(value, str):
        if _MAY_HOLD_SECRET.search(value) is None:
            return value  # neither pattern can match (the profile's most frequent case)
        value = _SECRET_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
        return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", value)
    if isinstance(value, Mapping):
        return {k: _redact_item(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    # Cached: log keys are a small fixed set, and this ran for every field of every line.
    return key not in _SAFE_KEYS and _SECRET_KEY.search(key) is not None


def _redact_item(key: Any, value: Any, depth: int) -> Any:
    if isinstance(key, str) and _secret_key(key):
        return REDACTED if value is not None else None
    if value is None or isinstance(value, int | float):
        return value
    return _scrub(value, depth)


_PLAIN = frozenset({int, float, bool, type(None)})
"""Value types no pattern can match: passed as they are, unless their key is secret-looking."""


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide values under secret-looking keys and bearer strings.

    It runs for every line: the common fields (numbers, ids without `=` or whitespace) are passed
    over without a call (values are replaced in place; no key is added or removed)."""
    for key, value in event_dict.items():
        if key == "event":  # the message itself: only credential-shaped values go
            new = _scrub(value)
        elif isinstance(key, str) and _secret_key(key):
            new = REDACTED if value is not None else None
        elif type(value) in _PLAIN or (
            type(value) is str and _MAY_HOLD_SECRET.search(value) is None
        ):
            continue
        else:
            new = _scrub(value)
        if new is not value:
            event_dict[key] = new
    return event_dict


def configure(
    level: str = "info",
    fmt: str = "auto",
    *,
    stream: TextIO | None = None,
    cache_loggers: bool = False,
) -> None:
    """Configure structlog and the stdlib root logger (aiohttp's own loggers go through it).

    `fmt` "auto" is pretty in a terminal and JSON lines otherwise; `stream` defaults to stderr.
    `cache_loggers`: each module's logger is built once, at its first line, instead of once per
    line (what a process configured for good wants: `gateway serve`). Later `configure` calls
    no longer reach a cached logger, so code that reconfigures (tests) leaves it off. Context
    bound with `structlog.contextvars` is merged per line either way.
    """
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any
    if fmt == "json":
        import orjson  # noqa: PLC0415 (only the JSON renderer needs it)

        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps(orjson))
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if fmt == "json" else _identity,
        redact,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # `write` + `flush` per line (PrintLogger goes through `print`).
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=cache_loggers,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp.access duplicates our own http.request event; aiosqlite's debug lines echo every
    # statement's parameters (order bodies, personal data).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _identity(_logger: Any, _method: str, event_dict: Any) -> Any:
    return event_dict


def _orjson_dumps(orjson: Any) -> Any:
    def dumps(obj: Any, **_kw: Any) -> str:
        return orjson.dumps(obj, default=str).decode()  # type: ignore[no-any-return]

    return dumps
