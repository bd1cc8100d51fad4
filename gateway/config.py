"""The config file's typed settings; `gateway.config_load` reads a file into them.

This is the only module that reads the environment. Secrets never live in the file: a key
ending in `_env` names an environment variable, and `config_load.load()` resolves every such
name into `Settings.secrets` (a `SecretStr` per variable).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from gateway.model.closed import Closed
from gateway.model.secrets import Secrets
from gateway.model.text import SUBSCRIBER_ID_PATTERN
from gateway.routing.rules import HoldRule, RoutingSettings, unique_names

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""The name of an environment variable that holds a secret."""


class Section(Closed):
    """Base of every config table: an unknown key is a mistake, reported by name."""


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    request_budget_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    """How long `POST /v1/orders` waits for the provider before answering 202."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    webhook_max_body_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    """`POST /v1/webhooks/*` is unauthenticated until its body is checked: a smaller limit
    (413 over it) bounds what any caller can make the gateway hold."""
    webhook_body_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    """A webhook body not complete this long after its headers is refused (408) and its
    connection closed, so slow senders cannot hold connections open."""
    shutdown_timeout_s: Annotated[float, Field(ge=0)] = 10.0
    replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    """How many gateway processes serve together. Without `[redis]` each takes this share of
    every provider's rate limit; with Redis the limit is shared and this is not needed."""


class StoreSettings(Section):
    url: str = "sqlite:///var/gateway.db"
    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    """PostgreSQL: connections each process keeps at most."""
    migrate_on_start: bool = True
    """PostgreSQL: `serve` applies pending migrations (under an advisory lock). False leaves
    that to `gateway migrate`, and `serve` refuses a database that is behind."""
    password_env: EnvName | None = None
    """PostgreSQL: the variable holding the database password, so the URL in the file need
    not carry it (it overrides a password in the URL)."""
    connect_wait_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    """PostgreSQL: `serve` and `migrate` retry a database that is not reachable yet (starting,
    failing over) for this long before giving up; 0 tries once. A wrong password or an unknown
    role or database fails at once."""

    def password(self, secrets: Secrets) -> str | None:
        return secrets.reveal(self.password_env) if self.password_env else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "sqlite":
            if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
                raise ValueError(
                    "a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
                )
            return value
        if parts.scheme in ("postgresql", "postgres"):
            if not parts.hostname or not parts.path.strip("/"):
                raise ValueError("a PostgreSQL URL is postgresql://user@host:5432/database")
            return value
        raise ValueError("the store URL must start with sqlite:/// or postgresql://")

    @property
    def sqlite_path(self) -> Path:
        """`sqlite:///var/x.db` → `var/x.db` (relative); `sqlite:////tmp/x.db` → `/tmp/x.db`."""
        return Path(urlsplit(self.url).path[1:])


class SandboxSettings(Section):
    enabled: bool = False
    autopilot_s: Annotated[float, Field(gt=0)] | None = 5.0
    """The in-process sandboxes move each order one step along its lifecycle this often (and
    send its webhooks); none: orders stay where they are until moved by `/_control`."""


ClientScope = Literal["orders:write", "orders:read", "returns:write", "returns:read", "routing:pin"]
DEFAULT_SCOPES: tuple[ClientScope, ...] = (
    "orders:write",
    "orders:read",
    "returns:write",
    "returns:read",
)


ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
"""A client id or reference prefix: no separator, so tenant-qualified references never collide."""


KeySha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A key as configured instead of its variable: its SHA-256, in hex."""


def _one_key_of(key_env: str | None, key_sha256: str | None) -> None:
    if (key_env is None) == (key_sha256 is None):
        raise ValueError("give exactly one of key_env or key_sha256")


def _digest(secrets: Secrets, key_env: str | None, key_sha256: str | None) -> str:
    """A key's SHA-256 hex, the one form keys are kept and compared in."""
    if key_env is not None:
        return hashlib.sha256(secrets.reveal(key_env).encode()).hexdigest()
    assert key_sha256 is not None  # _one_key_of
    return key_sha256


class ClientSettings(Section):
    id: ClientId
    reference_prefix: ClientId | None = None
    """Qualifies this tenant's references at every provider (`<prefix>/<external_id>`);
    defaults to `id`. Set it to keep references stable when a client is renamed."""
    key_env: EnvName | None = None
    key_sha256: KeySha256 | None = None
    scopes: list[ClientScope] = Field(default_factory=lambda: list(DEFAULT_SCOPES))

    @model_validator(mode="after")
    def _one_key(self) -> ClientSettings:
        _one_key_of(self.key_env, self.key_sha256)
        return self

    @property
    def prefix(self) -> str:
        """What qualifies this tenant's provider references."""
        return self.reference_prefix or self.id

    def key_digest(self, secrets: Secrets) -> str:
        """SHA-256 hex of this client's key: the only form keys are kept and compared in."""
        return _digest(secrets, self.key_env, self.key_sha256)


class RateLimitSettings(Section):
    max_rate: Annotated[float, Field(gt=0)] = 10
    time_period: Annotated[float, Field(gt=0)] = 1.0


class RetrySettings(Section):
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    base_delay_s: Annotated[float, Field(gt=0)] = 0.2
    max_delay_s: Annotated[float, Field(gt=0)] = 10.0
    budget_s: Annotated[float, Field(gt=0)] = 30.0
    """Wall time one call may spend across all its attempts and waits."""


class CircuitSettings(Section):
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    """Consecutive failures that open the circuit."""
    failure_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    window: Annotated[int, Field(ge=2)] = 20
    """Last N outcomes the ratio is computed over (only once N outcomes are known)."""
    cool_down_s: Annotated[float, Field(gt=0)] = 30.0


class WarehouseSettings(Section):
    """Per-warehouse settings; providers subclass this to add their own keys."""


class ProviderSettings(Section):
    """Keys every provider block has; each provider subclasses it with its own."""

    base_url: str
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    max_concurrency: Annotated[int, Field(ge=1, le=1000)] = 8
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    retry: RetrySettings = Field(default_factory=RetrySettings)
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)
    retry_after_max_s: Annotated[float, Field(gt=0)] = 300.0
    """Ceiling on a provider's Retry-After, so one bad header cannot park a provider for days."""
    warehouses: Mapping[str, WarehouseSettings] = Field(default_factory=dict)
    status_poll_interval_s: Annotated[float, Field(gt=0)] = 300.0
    """Each submitted, not final order is read from the provider when its state has not been
    read or heard (webhook) for this long: webhooks are the optimisation, polling the guarantee."""
    status_poll_batch: Annotated[int, Field(ge=1, le=1000)] = 50
    """Orders one poll round reads at most (oldest first); calls obey `rate_limit`."""

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value)


def http_url(value: str) -> str:
    # A path (starting with "/") is resolved against the gateway's own address, which is
    # how the default config reaches the in-process sandboxes whatever --port is used.
    if value.startswith("/"):
        return value.rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL, or a path served by this gateway")
    return value.rstrip("/")


def resolve_url(value: str, self_url: str) -> str:
    """`/_sandbox/x` → `http://127.0.0.1:8080/_sandbox/x`; absolute URLs unchanged."""
    return self_url.rstrip("/") + value if value.startswith("/") else value


class IdempotencySettings(Section):
    ttl_s: Annotated[float, Field(gt=0)] = 24 * 3600
    in_flight_retry_after_s: Annotated[int, Field(ge=1)] = 1
    webhook_ttl_s: Annotated[float, Field(gt=0)] = 30 * 86400.0
    """How long a provider webhook event is remembered after it was received, once applied
    (or given up): a redelivery within this time is recognised as one. Keep it longer than any
    provider goes on redelivering; an event still waiting to be applied is always kept."""


class SubmissionSettings(Section):
    lease_s: Annotated[float, Field(gt=0)] = 30.0
    """How long a worker's claim on an order lasts unless renewed (renewed every third of it
    while the worker is alive), so a crashed process's orders resume within this time."""
    poll_interval_s: Annotated[float, Field(gt=0)] = 1.0
    backoff_base_s: Annotated[float, Field(gt=0)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0)] = 300.0
    batch: Annotated[int, Field(ge=1)] = 50


class ReturnsSettings(Section):
    """`[returns]`: following returns at their providers (no provider sends return webhooks)."""

    poll_interval_s: Annotated[float, Field(gt=0)] = 60.0
    """How often each unfinished return is read back from its provider."""
    poll_batch: Annotated[int, Field(ge=1)] = 50
    """Returns read per round, least recently refreshed first."""


class SubscriberSettings(Section):
    id: Annotated[str, StringConstraints(pattern=SUBSCRIBER_ID_PATTERN)]
    client: str
    url: str
    secret_env: EnvName
    """Holds `whsec_<base64>` (Standard Webhooks); the signing key is the decoded bytes."""
    events: list[str] = Field(default_factory=lambda: ["order.*"])
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 15
    """Attempts per event before it is dead-lettered (shown by `GET /v1/deliveries`)."""
    backoff_base_s: Annotated[float, Field(gt=0)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0)] = 3600.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class EventSettings(Section):
    """`[events]`: the dispatcher of events to `[[subscribers]]`."""

    dispatch_interval_s: Annotated[float, Field(gt=0)] = 1.0
    batch: Annotated[int, Field(ge=1, le=1000)] = 100
    """Deliveries one subscriber gets in flight at once (at most one per order)."""
    lease_s: Annotated[float, Field(gt=0)] = 60.0
    """A claimed delivery is not sent by another replica for this long."""
    retention_s: Annotated[float, Field(gt=0)] = 30 * 86400.0
    """Events older than this leave the feed once every subscriber has them (dead letters
    and their events stay until retried)."""


class RedisSettings(Section):
    url: str
    key_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] = "gateway"
    """Every key the gateway writes starts with `<key_prefix>:`, so fleets can share a Redis."""
    password_env: EnvName | None = None
    """The variable holding Redis's password (AUTH), so the URL need not carry it."""


class AuditSettings(Section):
    """`[audit]`: the provider exchanges kept per order and return (`GET …/exchanges`)."""

    enabled: bool = True
    body_limit_bytes: Annotated[int, Field(ge=0, le=1024 * 1024)] = 16384
    """Each request and response body is cut at this many bytes (marked as cut)."""
    retention_s: Annotated[float, Field(gt=0)] = 30 * 86400.0
    """Exchanges older than this are purged."""


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class OperatorSettings(Section):
    """`[[operators]]`: a person signing in to the console at `/console`."""

    id: ClientId
    key_env: EnvName | None = None
    key_sha256: KeySha256 | None = None
    tenants: list[str] = Field(default_factory=lambda: ["*"])
    """Client ids this operator may see and act for; `["*"]`: all of them."""

    @model_validator(mode="after")
    def _one_key(self) -> OperatorSettings:
        _one_key_of(self.key_env, self.key_sha256)
        return self

    def key_digest(self, secrets: Secrets) -> str:
        """SHA-256 hex of the operator's key (kept and compared only in this form)."""
        return _digest(secrets, self.key_env, self.key_sha256)


class ConsoleSettings(Section):
    """`[console]`: the operator console's sessions and sign-in limit."""

    session_ttl_s: float = Field(default=8 * 3600.0, gt=0)
    session_secret_env: EnvName | None = None
    """Signs session cookies, so that replicas accept each other's; unset: a random secret
    per process (sessions end when it restarts)."""
    sign_in_per_minute: int = Field(default=10, gt=0)
    """Sign-in attempts per client address per minute, beyond which the answer is 429."""


class Settings(Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    clients: list[ClientSettings] = Field(default_factory=list)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    holds: list[HoldRule] = Field(default_factory=list)
    """`[[holds]]`: tried before routing, in order (`gateway.routing.holds`)."""
    subscribers: list[SubscriberSettings] = Field(default_factory=list)
    redis: RedisSettings | None = None
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)
    submission: SubmissionSettings = Field(default_factory=SubmissionSettings)
    returns: ReturnsSettings = Field(default_factory=ReturnsSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    operators: list[OperatorSettings] = Field(default_factory=list)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    _secrets: Secrets = PrivateAttr(default_factory=lambda: Secrets({}))

    @field_validator("holds")
    @classmethod
    def _hold_names(cls, value: list[HoldRule]) -> list[HoldRule]:
        unique_names([rule.name for rule in value])
        return value

    @property
    def secrets(self) -> Secrets:
        """Resolved `*_env` variables; filled by `config_load.parse()`, never read from the file."""
        return self._secrets


Settings.model_rebuild()


def environment() -> Mapping[str, str]:
    """The process environment, which `config_load.load` resolves `*_env` keys against."""
    return os.environ


def env_flag(name: str, default: str = "") -> str:
    """A non-secret operational variable (e.g. `GATEWAY_LOG_FORMAT`), read here only."""
    return os.environ.get(name, default)
