"""Prometheus metrics: every family the gateway exports, in one registry per application.

One `Metrics` object per app (`web.AppKey` `METRICS`), never the module-global registry, so
several gateways in one process (tests) do not collide. Instrumented code holds a `Metrics`
or a per-provider `ProviderMetrics` and calls one method per event; label children are
cached so the hot path is a dict lookup and an increment.

Families (the names are a contract: deploy/ alert rules and dashboards use them):

- `gateway_http_requests_total{route,method,status}`, `gateway_http_request_duration_seconds`
  `{route,method}` — `route` is the route's path template (`/v1/orders/{id}`), `unmatched`
  for paths no route serves;
- `gateway_provider_calls_total{provider,operation,outcome}` — one per HTTP attempt; outcome
  is `ok`, `client_error` (4xx but 429), `rate_limited` (429), `server_error` (5xx),
  `timeout`, `connection_error`, `circuit_open` (refused without a call);
  `gateway_provider_call_duration_seconds{provider,operation}` (attempts that were sent);
- `gateway_provider_retries_total{provider,operation}`, `gateway_provider_rate_limited_total`
  `{provider}`, `gateway_provider_gate_open_seconds{provider}` (0 when open),
  `gateway_provider_circuit_state{provider}` (0 closed, 1 half-open, 2 open);
- `gateway_token_refreshes_total{provider,outcome}` (`ok`, `failed`);
- `gateway_idempotency_total{outcome}` (`replayed`, `conflict`, `in_progress`, `resumed`,
  `order_exists`);
- `gateway_routing_decisions_total{rule,provider,warehouse}` (`unroutable`/`none`/`none`
  when no rule took the order);
- `gateway_queue_depth`, `gateway_queue_oldest_age_seconds` (open submissions — orders, and
  each part of a split order — read from the store at scrape time: the same value on every
  replica — aggregate with `max`);
- `gateway_store_statements_total{kind}` (`statements`, `reads`, `transactions`, `commits`:
  what the SQLite store ran, read at scrape time; `make bench` divides it by orders);
- `gateway_webhooks_in_total{provider,outcome}` (`accepted`, `duplicate`, `rejected`,
  `malformed`, `not_found`, `too_large`, `timeout`),
  `gateway_webhooks_out_total{subscriber,outcome}` (`delivered`, `retry`, `dead`: each
  attempt to a subscriber).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric

if TYPE_CHECKING:
    from gateway.observability.state import ProviderState

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "unmatched"

# Facade latency: most answers are sub-10 ms; a submit may wait for the provider up to its
# request budget (seconds).
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROVIDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self) -> None:
        # `*_created` series double the scrape and no dashboard reads them (process-wide flag).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = r = CollectorRegistry()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, labels, registry=r)

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=r)

        self.http_requests = counter(
            "gateway_http_requests",
            "HTTP requests answered by the facade",
            "route",
            "method",
            "status",
        )
        self.http_duration = histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer a facade request",
            HTTP_BUCKETS,
            "route",
            "method",
        )
        self.provider_calls = counter(
            "gateway_provider_calls",
            "HTTP attempts to a provider, by outcome",
            "provider",
            "operation",
            "outcome",
        )
        self.provider_duration = histogram(
            "gateway_provider_call_duration_seconds",
            "Duration of one HTTP attempt to a provider (from send to the whole answer read)",
            PROVIDER_BUCKETS,
            "provider",
            "operation",
        )
        self.provider_retries = counter(
            "gateway_provider_retries",
            "Provider calls retried after a retryable failure",
            "provider",
            "operation",
        )
        self.rate_limited = counter(
            "gateway_provider_rate_limited", "HTTP 429 answers from a provider", "provider"
        )
        self.gate_open = gauge(
            "gateway_provider_gate_open_seconds",
            "Seconds until the provider's Retry-After gate opens (0 when open)",
            "provider",
        )
        self.circuit = gauge(
            "gateway_provider_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            "provider",
        )
        self.token_refreshes = counter(
            "gateway_token_refreshes", "OAuth token requests, by outcome", "provider", "outcome"
        )
        self.idempotency = counter(
            "gateway_idempotency",
            "Submits answered from or refused by the idempotency record",
            "outcome",
        )
        self.routing = counter(
            "gateway_routing_decisions",
            "Routing decisions of submitted orders",
            "rule",
            "provider",
            "warehouse",
        )
        self.queue_depth = gauge(
            "gateway_queue_depth", "Submissions not finished (orders, and parts of split orders)"
        )
        self.queue_oldest_age = gauge(
            "gateway_queue_oldest_age_seconds",
            "Age of the oldest order whose submission is not finished (0 when none)",
        )
        self.webhooks_in = counter(
            "gateway_webhooks_in",
            "Inbound provider webhook deliveries, by outcome",
            "provider",
            "outcome",
        )
        self.webhooks_out = counter(
            "gateway_webhooks_out",
            "Outbound webhook deliveries to subscribers, by outcome",
            "subscriber",
            "outcome",
        )
        self.adoptions_refused = counter(
            "gateway_provider_order_adoptions_refused",
            "Provider orders a reconcile found that another gateway order holds (never adopted)",
            "provider",
        )
        self.orders_late = gauge(
            "gateway_orders_late",
            "Orders not shipped by their ship_by, by provider (read from the store each round)",
            "provider",
        )
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._providers: dict[str, ProviderMetrics] = {}
        self._idempotency: dict[str, Counter] = {}
        self._routing: dict[tuple[str, str, str], Counter] = {}

    # facade ----------------------------------------------------------------------
    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._http.get(key)
        if children is None:
            children = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route, method),
            )
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def idempotent(self, outcome: str) -> None:
        child = self._idempotency.get(outcome)
        if child is None:
            child = self._idempotency[outcome] = self.idempotency.labels(outcome)
        child.inc()

    def routed(self, rule: str, provider: str, warehouse: str) -> None:
        # Once per order: the child is looked up once per label set (`.labels` takes a lock).
        key = (rule, provider, warehouse)
        child = self._routing.get(key)
        if child is None:
            child = self._routing[key] = self.routing.labels(rule, provider, warehouse)
        child.inc()

    def webhook_in(self, provider: str, outcome: str) -> None:
        self.webhooks_in.labels(provider, outcome).inc()

    def adoption_refused(self, provider: str) -> None:
        self.adoptions_refused.labels(provider).inc()

    def webhook_out(self, subscriber: str, outcome: str) -> None:
        self.webhooks_out.labels(subscriber, outcome).inc()

    # providers -------------------------------------------------------------------
    def provider(self, name: str) -> ProviderMetrics:
        """The instruments of one provider (created once, shared by its transport layers)."""
        found = self._providers.get(name)
        if found is None:
            found = self._providers[name] = ProviderMetrics(self, name)
        return found

    # scrape ----------------------------------------------------------------------
    def set_provider_states(self, states: Iterable[ProviderState], *, now: float) -> None:
        """Gauges read from the providers' live state (called at scrape time)."""
        for s in states:
            self.circuit.labels(s.name).set(CIRCUIT_VALUES.get(s.circuit, 2))
            gate = 0.0 if s.gate_open_at is None else max(0.0, s.gate_open_at - now)
            self.gate_open.labels(s.name).set(gate)

    def set_queue(self, depth: int, oldest_age_s: float | None) -> None:
        self.queue_depth.set(depth)
        self.queue_oldest_age.set(max(0.0, oldest_age_s or 0.0))

    def count_store(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export `counts()` (kind → running total) as `gateway_store_statements_total`."""
        self.registry.register(_StoreCounts(counts))

    def set_late(self, counts: Mapping[str, int], providers: Iterable[str]) -> None:
        """`gateway_orders_late` of every configured provider (0 where none is late)."""
        for name in {*providers, *counts}:
            self.orders_late.labels(name or "none").set(counts.get(name, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ProviderMetrics:
    """One provider's instruments, with label children cached per operation."""

    def __init__(self, metrics: Metrics, provider: str) -> None:
        self._m = metrics
        self.provider = provider
        self._calls: dict[tuple[str, str], Counter] = {}
        self._durations: dict[str, Histogram] = {}
        self._rate_limited = metrics.rate_limited.labels(provider)

    def call(self, operation: str, outcome: str, seconds: float | None) -> None:
        """One attempt; `seconds` is None when nothing was sent (circuit open)."""
        key = (operation, outcome)
        counter = self._calls.get(key)
        if counter is None:
            counter = self._calls[key] = self._m.provider_calls.labels(
                self.provider, operation, outcome
            )
        counter.inc()
        if seconds is not None:
            hist = self._durations.get(operation)
            if hist is None:
                hist = self._durations[operation] = self._m.provider_duration.labels(
                    self.provider, operation
                )
            hist.observe(seconds)
        if outcome == "rate_limited":
            self._rate_limited.inc()

    def retry(self, operation: str) -> None:
        self._m.provider_retries.labels(self.provider, operation).inc()

    def token_refresh(self, *, ok: bool) -> None:
        self._m.token_refreshes.labels(self.provider, "ok" if ok else "failed").inc()


def outcome_of_status(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class _StoreCounts:
    """A collector: the store's own running totals, read when scraped (nothing per statement)."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "gateway_store_statements", "What the store ran, by kind", labels=["kind"]
        )
        for kind, n in self._counts().items():
            family.add_metric([kind], n)
        yield family
