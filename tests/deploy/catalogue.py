"""The gateway's metric names (issue 8, the contract with `GET /metrics`) and a PromQL reader.

Alert rules and dashboard queries may use only these metrics, with their own labels. The
queries are parsed by a real PromQL parser (`promql-parser`, Prometheus' grammar), so a
syntax error fails here as it would fail in Prometheus or Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser as promql

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@dataclass(frozen=True)
class Metric:
    kind: str  # counter | gauge | histogram
    labels: frozenset[str]


def _m(kind: str, *labels: str) -> Metric:
    return Metric(kind, frozenset(labels))


METRICS: dict[str, Metric] = {
    "gateway_http_requests_total": _m("counter", "route", "method", "status"),
    "gateway_http_request_duration_seconds": _m("histogram", "route", "method"),
    "gateway_provider_calls_total": _m("counter", "provider", "operation", "outcome"),
    "gateway_provider_call_duration_seconds": _m("histogram", "provider", "operation"),
    "gateway_provider_retries_total": _m("counter", "provider", "operation"),
    "gateway_provider_rate_limited_total": _m("counter", "provider"),
    "gateway_provider_gate_open_seconds": _m("gauge", "provider"),
    "gateway_provider_circuit_state": _m("gauge", "provider"),
    "gateway_token_refreshes_total": _m("counter", "provider", "outcome"),
    "gateway_idempotency_total": _m("counter", "outcome"),
    "gateway_routing_decisions_total": _m("counter", "rule", "provider", "warehouse"),
    "gateway_queue_depth": _m("gauge"),
    "gateway_queue_oldest_age_seconds": _m("gauge"),
    "gateway_webhooks_in_total": _m("counter", "provider", "outcome"),
    "gateway_webhooks_out_total": _m("counter", "subscriber", "outcome"),
    "gateway_provider_order_adoptions_refused_total": _m("counter", "provider"),
    "gateway_orders_late": _m("gauge", "provider"),
}

TARGET_LABELS = frozenset({"job", "instance", "service", "role"})
"""Labels Prometheus attaches to every scraped series (see deploy/prometheus/prometheus.yml)."""

SYNTHETIC = {"up": _m("gauge")}
"""Series Prometheus itself writes per target: `up` is how a dead replica shows."""

KNOWN_LABEL_VALUES = {
    ("gateway_token_refreshes_total", "outcome"): {"ok", "failed"},
    # As gateway/observability/metrics.py (branch ops) documents them.
    ("gateway_provider_calls_total", "outcome"): {
        "ok",
        "client_error",
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
        "circuit_open",
    },
    ("gateway_webhooks_in_total", "outcome"): {
        "accepted",
        "duplicate",
        "rejected",
        "malformed",
        "not_found",
    },
    ("gateway_webhooks_out_total", "outcome"): {"delivered", "retry", "dead"},
    ("gateway_idempotency_total", "outcome"): {
        "replayed",
        "conflict",
        "in_progress",
        "resumed",
        "order_exists",
    },
}
"""Label values fixed by the contract; a matcher on another value would never match."""


def resolve(series: str) -> tuple[str, Metric] | None:
    """`gateway_x_seconds_bucket` → (`gateway_x_seconds`, its histogram) with `le`; or None."""
    if series in METRICS:
        return series, METRICS[series]
    if series in SYNTHETIC:
        return series, SYNTHETIC[series]
    for suffix in ("_bucket", "_sum", "_count"):
        base = series.removesuffix(suffix)
        if base != series and METRICS.get(base, Metric("", frozenset())).kind == "histogram":
            metric = METRICS[base]
            if suffix == "_bucket":
                return base, Metric(metric.kind, metric.labels | {"le"})
            return base, metric
    return None


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


@dataclass
class QueryRefs:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # by/without/on/ignoring/group_x labels
    aggregated: dict[str, set[str]] = field(default_factory=dict)  # "sum" → metrics under it


def read(expr: str) -> QueryRefs:
    """Parse a PromQL expression (raises ValueError on a syntax error) and list what it uses."""
    refs = QueryRefs()
    _walk(promql.parse(expr), refs)
    return refs


def _walk(node: object, refs: QueryRefs) -> None:
    if isinstance(node, promql.VectorSelector):
        name = node.name or ""
        matchers = [(m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers]
        for m in matchers:
            if m[0] == "__name__":
                name = m[2]
        refs.selectors.append(Selector(name, tuple(m for m in matchers if m[0] != "__name__")))
    elif isinstance(node, promql.MatrixSelector):
        _walk(node.vector_selector, refs)
    elif isinstance(node, promql.AggregateExpr):
        if node.modifier is not None:
            refs.grouping.update(node.modifier.labels)
        if node.param is not None:
            _walk(node.param, refs)
        inner = QueryRefs()
        _walk(node.expr, inner)
        refs.selectors.extend(inner.selectors)
        refs.grouping |= inner.grouping
        for op, names in inner.aggregated.items():
            refs.aggregated.setdefault(op, set()).update(names)
        refs.aggregated.setdefault(str(node.op), set()).update(s.name for s in inner.selectors)
    elif isinstance(node, promql.BinaryExpr):
        if node.modifier is not None:
            if node.modifier.matching is not None:
                refs.grouping.update(node.modifier.matching.labels)
            refs.grouping.update(node.modifier.group_labels or [])
        _walk(node.lhs, refs)
        _walk(node.rhs, refs)
    elif isinstance(node, promql.Call):
        for arg in node.args:
            _walk(arg, refs)
    elif isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        _walk(node.expr, refs)
    elif not isinstance(node, promql.NumberLiteral | promql.StringLiteral):
        raise TypeError(f"unhandled PromQL node {type(node).__name__}: {node}")


def problems(expr: str) -> Iterator[str]:
    """Every way `expr` strays from the metric catalogue: unknown metric, label or value."""
    refs = read(expr)
    usable: set[str] = set(TARGET_LABELS)
    for sel in refs.selectors:
        found = resolve(sel.name)
        if found is None:
            yield f"unknown metric {sel.name!r}"
            continue
        base, metric = found
        usable |= metric.labels
        for label, op, value in sel.matchers:
            if label not in metric.labels | TARGET_LABELS:
                yield f"{sel.name} has no label {label!r}"
            allowed = KNOWN_LABEL_VALUES.get((base, label))
            if allowed is None:
                continue
            # An exact value, or a regex that is an alternation of plain values.
            if op in ("Equal", "NotEqual"):
                values = [value]
            elif re.fullmatch(r"\w+(\|\w+)*", value):
                values = value.split("|")
            else:
                values = []
            for v in values:
                if v not in allowed:
                    yield f"{sel.name}{{{label}}} is one of {sorted(allowed)}, never {v!r}"
    for label in sorted(refs.grouping - usable):
        yield f"groups by {label!r}, which none of its metrics has"


GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


def grafana_to_promql(expr: str) -> str:
    """Grafana's built-in intervals → durations; `$var` / `${var}` → a regex-safe literal."""
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "x", expr)
