"""Alert rules and the Grafana dashboard: valid PromQL over the gateway's own metrics only."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
import yaml

from tests.deploy.catalogue import DEPLOY, METRICS, grafana_to_promql, problems, read, resolve
from tests.markdown import anchors

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "gateway.json"
README = DEPLOY / "README.md"


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in orjson.loads(DASHBOARD.read_bytes())["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels inside a collapsed row
    return out


def test_catalogue_reader_catches_what_it_should() -> None:
    """The checks below are only as good as this reader: it must see every metric."""
    assert list(problems("sum by (provider) (rate(gateway_provider_calls_total[5m]))")) == []
    assert list(problems("rate(gateway_orders_total[5m])")) == [
        "unknown metric 'gateway_orders_total'"
    ]
    assert list(problems('gateway_queue_depth{provider="x"}')) == [
        "gateway_queue_depth has no label 'provider'"
    ]
    assert list(problems("sum by (tenant) (gateway_idempotency_total)")) == [
        "groups by 'tenant', which none of its metrics has"
    ]
    assert list(problems('gateway_token_refreshes_total{outcome="error"}'))
    assert list(problems('gateway_provider_calls_total{outcome=~"ok|boom"}')) == [
        "gateway_provider_calls_total{outcome} is one of ['circuit_open', 'client_error', "
        "'connection_error', 'ok', 'rate_limited', 'server_error', 'timeout'], never 'boom'"
    ]
    assert resolve("gateway_http_request_duration_seconds_bucket") is not None
    assert resolve("gateway_queue_depth_bucket") is None  # a gauge has no buckets
    nested = read("max(gateway_queue_depth) + sum by (x) (rate(gateway_queue_depth[5m]))")
    assert nested.aggregated == {"max": {"gateway_queue_depth"}, "sum": {"gateway_queue_depth"}}
    with pytest.raises(ValueError, match="parenthesis"):
        read("sum(rate(gateway_queue_depth[5m])")


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_alert_is_valid_promql_over_gateway_metrics(rule: dict[str, Any]) -> None:
    assert list(problems(rule["expr"])) == []


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_description_and_a_runbook_that_exists(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert path == "deploy/README.md"
    assert anchor in anchors(README.read_text()), f"no section #{anchor} in {path}"


def test_alerts_cover_queue_age_circuits_5xx_and_token_failures() -> None:
    selectors = [s for rule in rules() for s in read(rule["expr"]).selectors]
    names = {s.name for s in selectors}
    assert "gateway_queue_oldest_age_seconds" in names
    assert "gateway_provider_circuit_state" in names
    assert any(
        s.name == "gateway_http_requests_total" and ("status", "Re", "5..") in s.matchers
        for s in selectors
    )
    assert any(
        s.name == "gateway_token_refreshes_total" and ("outcome", "Equal", "failed") in s.matchers
        for s in selectors
    )


def test_circuit_alerts_compare_against_the_open_state() -> None:
    # 0 closed, 1 half-open, 2 open: an alert on "== 1" would page on every recovery probe.
    circuit = [r for r in rules() if "gateway_provider_circuit_state" in r["expr"]]
    assert circuit
    for rule in circuit:
        assert "== 2" in rule["expr"] or "changes(" in rule["expr"], rule["alert"]


def test_queue_gauges_are_never_summed_across_replicas() -> None:
    # Every replica reports the same shared queue: summing would multiply it by replicas.
    queries = [r["expr"] for r in rules()] + [
        t["expr"] for p in panels() for t in p.get("targets", [])
    ]
    for query in queries:
        summed = read(grafana_to_promql(query)).aggregated.get("sum", set())
        assert not {m for m in summed if m.startswith("gateway_queue_")}, query


def test_dashboard_parses_and_every_query_is_valid_promql_over_gateway_metrics() -> None:
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    assert dashboard["uid"] == "order-routing-gateway"
    assert dashboard["title"]
    queries = 0
    for panel in panels():
        for target in panel.get("targets", []):
            queries += 1
            found = list(problems(grafana_to_promql(target["expr"])))
            assert found == [], f"{panel['title']}: {found}"
    assert queries >= 15


def test_dashboard_template_variables_query_real_labels() -> None:
    for var in orjson.loads(DASHBOARD.read_bytes())["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var["definition"])
        assert match, var["definition"]
        metric, label = match.groups()
        assert label in METRICS[metric].labels | {"instance", "job"}


def test_dashboard_shows_every_gateway_metric() -> None:
    shown = {
        resolved[0]
        for panel in panels()
        for target in panel.get("targets", [])
        for sel in read(grafana_to_promql(target["expr"])).selectors
        if (resolved := resolve(sel.name))
    }
    assert set(METRICS) - shown == set()


def test_dashboard_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels():
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
