"""deploy/docker-compose.yml with its HAProxy, Prometheus and gateway config files.

No Docker daemon is needed: the files are parsed and cross-checked — every replica behind the
proxy and scraped, every secret variable passed, every mounted file present, the compose
gateway config accepted by the gateway's own loader.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.catalogue import DEPLOY
from tests.deploy.config_files import env_names, toml_of, validate

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
GATEWAY_TOML = DEPLOY / "compose" / "gateway.toml"
SIMULATOR_TOML = DEPLOY / "compose" / "simulator.toml"
CONFIG_IN_IMAGE = "/etc/gateway/gateway.toml"
IMAGE = "order-routing-gateway:dev"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def gateways(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the gateway image's ENTRYPOINT (serve), not a one-shot command."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image") == IMAGE and "entrypoint" not in svc
    }


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The gateways that serve clients: those on compose/gateway.toml."""
    return {
        name: svc
        for name, svc in gateways(compose).items()
        if mounts(svc).get(CONFIG_IN_IMAGE) == "./compose/gateway.toml"
    }


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path → host path (relative to deploy/) of each bind mount."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = source
    return out


def _compose_spec_check(path: Path) -> subprocess.CompletedProcess[str]:
    """The official compose-spec JSON schema, as vendored by check-jsonschema (offline)."""
    cli = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(cli), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_follows_the_compose_spec(tmp_path: Path) -> None:
    result = _compose_spec_check(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check has teeth: a misspelt key is refused.
    typo = tmp_path / "docker-compose.yml"
    typo.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_periods:"))
    assert _compose_spec_check(typo).returncode != 0


def test_two_gateway_replicas_serve_the_compose_config(compose: dict[str, Any]) -> None:
    assert len(replicas(compose)) == toml_of(GATEWAY_TOML)["server"]["replicas"] == 2
    for name, svc in gateways(compose).items():
        assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        assert svc.get("read_only") is True, f"{name}: read-only root filesystem"
    served = {mounts(svc)[CONFIG_IN_IMAGE] for svc in gateways(compose).values()}
    assert served == {"./compose/gateway.toml", "./compose/simulator.toml"}


def test_every_bind_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for target, source in mounts(svc).items():
            assert (DEPLOY / source).exists(), f"{name}: {source} → {target} does not exist"


def test_every_secret_variable_reaches_every_gateway_from_the_environment(
    compose: dict[str, Any],
) -> None:
    names = set(env_names(toml_of(GATEWAY_TOML)))
    assert names, "the compose config names its secrets"
    runs_gateway = {n: s for n, s in compose["services"].items() if s.get("image") == IMAGE}
    assert len(runs_gateway) >= 4, "two replicas, the simulator and the migration"
    values: dict[str, set[str]] = {}
    for service, svc in runs_gateway.items():
        env = svc["environment"]
        for var in sorted(names):
            assert var in env, f"{service}: {var} is not set"
            # Interpolated, so an operator overrides it from the shell or a .env file.
            assert re.fullmatch(r"\$\{[A-Z_]+(:-[^}]*)?\}", str(env[var])), (service, var)
            values.setdefault(var, set()).add(str(env[var]))
    # The simulator accepts the replicas' credentials because they are the same values.
    assert all(len(v) == 1 for v in values.values()), values


@pytest.mark.parametrize("path", [GATEWAY_TOML, SIMULATOR_TOML], ids=lambda p: p.name)
def test_compose_configs_pass_the_gateway_loader(path: Path) -> None:
    settings, problems = validate(path)
    assert problems == [], "\n".join(map(str, problems))
    assert settings is not None
    assert settings.store.url.startswith("postgresql://")
    assert settings.redis is not None


def test_replicas_call_the_simulators_as_their_providers(compose: dict[str, Any]) -> None:
    """The stack needs no provider account: every provider URL of the replicas is served by
    the simulator service, which runs the same provider accounts (ids, scopes, warehouses)."""
    replica = toml_of(GATEWAY_TOML)
    simulator = toml_of(SIMULATOR_TOML)
    assert simulator["sandbox"]["enabled"] is True
    assert replica["sandbox"].get("enabled", False) is False
    assert set(replica["providers"]) == set(simulator["providers"])
    (sim_service,) = (
        n
        for n, s in gateways(compose).items()
        if mounts(s)[CONFIG_IN_IMAGE].endswith("simulator.toml")
    )
    for name, block in replica["providers"].items():
        served = simulator["providers"][name]
        for key in ("base_url", "token_url"):
            if key not in block:
                continue
            url = urlsplit(block[key])
            assert (url.hostname, url.port) == (sim_service, 8080), f"{name}.{key}"
            assert served[key] == url.path, f"{name}.{key}: the simulator serves {served[key]}"
            assert url.path.startswith(f"/_sandbox/{name}"), f"{name}.{key}"
        same = {k for k in block if k.endswith("_env") or k in ("merchant_id", "scopes")}
        for key in same | {"warehouses"}:
            assert served.get(key) == block[key], f"providers.{name}.{key} differs"
    for table in ("store", "redis"):
        assert simulator[table] == replica[table], f"the simulator shares the {table}"


def test_store_and_redis_urls_name_compose_services_without_passwords(
    compose: dict[str, Any],
) -> None:
    data = toml_of(GATEWAY_TOML)
    store = urlsplit(data["store"]["url"])
    redis = urlsplit(data["redis"]["url"])
    assert store.scheme == "postgresql"
    assert store.password is None, "the password comes from store.password_env, not the file"
    password_var = data["store"]["password_env"]
    assert store.hostname in compose["services"]
    assert compose["services"][store.hostname]["image"].startswith("postgres:")
    db = compose["services"][store.hostname]["environment"]
    assert (db["POSTGRES_USER"], db["POSTGRES_DB"]) == (store.username, store.path.strip("/"))
    for name, svc in gateways(compose).items():
        assert svc["environment"][password_var] == db["POSTGRES_PASSWORD"], name
    assert redis.scheme == "redis"
    assert redis.hostname in compose["services"]
    assert compose["services"][redis.hostname]["image"].startswith("redis:")


def test_replicas_start_after_migrations_and_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["entrypoint"][:2] == ["gateway", "migrate"]
    assert migrate["entrypoint"][-1] == CONFIG_IN_IMAGE
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, svc in gateways(compose).items():
        deps = svc["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
    for name, svc in replicas(compose).items():
        assert svc["depends_on"]["simulator"]["condition"] == "service_healthy", name
    for dependency in ("postgres", "redis"):
        assert "healthcheck" in services[dependency], dependency


def test_stop_grace_period_outlasts_the_gateway_drain(compose: dict[str, Any]) -> None:
    drain_s = toml_of(GATEWAY_TOML)["server"]["shutdown_timeout_s"]
    for name, svc in gateways(compose).items():
        grace = re.fullmatch(r"(\d+)s", svc["stop_grace_period"])
        assert grace, name
        assert int(grace.group(1)) > drain_s, f"{name}: docker would SIGKILL mid-drain"


def _haproxy(path: Path) -> dict[str, list[str]]:
    """section header ("backend gateways") → its directive lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(line.strip())
    return sections


def test_proxy_balances_every_replica_and_checks_readyz(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    cfg = _haproxy(DEPLOY / mounts(proxy)["/usr/local/etc/haproxy/haproxy.cfg"])
    frontend = cfg["frontend gateway"]
    backend_name = next(d.split()[1] for d in frontend if d.startswith("default_backend"))
    backend = cfg[f"backend {backend_name}"]
    servers = {d.split()[1]: d.split() for d in backend if d.startswith("server ")}
    assert set(servers) == set(replicas(compose))
    for name, words in servers.items():
        assert words[2] == f"{name}:8080", words
        assert "check" in words[3:], f"{name} is health-checked"
    assert "option httpchk" in backend
    assert "http-check send meth GET uri /readyz" in backend
    assert "http-check expect status 200" in backend
    # A request that reached a gateway is never re-sent by the proxy: only failed connects.
    retry_on = [d for section in cfg.values() for d in section if d.startswith("retry-on")]
    assert retry_on == ["retry-on conn-failure"]
    bind_ports = {d.split(":")[-1] for d in frontend if d.startswith("bind")}
    published = {p.split(":")[-1] for p in proxy["ports"]}
    assert bind_ports <= published


def test_proxy_buffers_bodies_and_never_logs_query_strings(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    cfg = _haproxy(DEPLOY / mounts(proxy)["/usr/local/etc/haproxy/haproxy.cfg"])
    defaults = cfg["defaults"]
    assert "option http-buffer-request" in defaults  # slow bodies wait at the proxy
    assert any(d.startswith("timeout http-request ") for d in defaults)
    directives = [d for section in cfg.values() for d in section]
    # httplog's %r is the request line with its query: Logitrail's ?token= is a secret.
    assert "option httplog" not in directives
    [log_format] = [d for d in directives if d.startswith("log-format ")]
    assert "%HP" in log_format
    # %r (also as %{+Q}r; %rc is the retry count), %HU and %HQ all carry the query string.
    assert not re.search(r"%(\{[^}]*\})?(r(?![a-z])|HU|HQ)", log_format), log_format


def test_prometheus_scrapes_every_replica_and_loads_the_alert_rules(
    compose: dict[str, Any],
) -> None:
    prom = compose["services"]["prometheus"]
    files = mounts(prom)
    config = yaml.safe_load((DEPLOY / files["/etc/prometheus/prometheus.yml"]).read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway = jobs["gateway"]
    assert gateway.get("metrics_path", "/metrics") == "/metrics"
    targets = {t for sc in gateway["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:8080" for name in gateways(compose)}
    rules_in_container = {t for t, s in files.items() if s == "./prometheus/alerts.yml"}
    assert set(config["rule_files"]) == rules_in_container


def test_grafana_provisions_the_dashboard_and_prometheus(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    files = mounts(grafana)
    provisioning = DEPLOY / files["/etc/grafana/provisioning"]
    dashboards = yaml.safe_load((provisioning / "dashboards" / "gateway.yml").read_text())
    path = dashboards["providers"][0]["options"]["path"]
    assert files[f"{path}/gateway.json"] == "./grafana/gateway.json"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert urlsplit(source["url"]).hostname == "prometheus"
    assert "9090:9090" in compose["services"]["prometheus"]["ports"][0]


def test_logitrail_is_followed_by_webhooks_not_polling_alone(compose: dict[str, Any]) -> None:
    """Logitrail signs nothing: without `webhook_token_env` its simulator sends no webhooks
    and the replicas would learn of its orders only by polling."""
    for path in (GATEWAY_TOML, SIMULATOR_TOML):
        logitrail = toml_of(path)["providers"]["logitrail"]
        assert logitrail.get("webhook_token_env") == "LOGITRAIL_WEBHOOK_TOKEN", path.name
    for name, svc in compose["services"].items():
        if svc.get("image") == IMAGE:
            assert "LOGITRAIL_WEBHOOK_TOKEN" in svc["environment"], name
