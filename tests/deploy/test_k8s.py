"""deploy/k8s: the manifests parse, fit together, and match the image and the config."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.catalogue import DEPLOY
from tests.deploy.config_files import env_names, validate
from tests.deploy.dockerfile import exec_form, parse

K8S = DEPLOY / "k8s"
CONFIG_IN_IMAGE = Path("/etc/gateway/gateway.toml")


def documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path.name}: {doc}"
    return docs


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """kind → object, over every manifest the kustomization applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in documents(K8S / name):
            assert doc["kind"] not in out, f"two {doc['kind']}s"
            out[doc["kind"]] = doc
    return out


@pytest.fixture(scope="module")
def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (c,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return c


@pytest.fixture(scope="module")
def config_toml(
    objects: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("k8s") / "gateway.toml"
    path.write_text(objects["ConfigMap"]["data"]["gateway.toml"])
    return path


def pod_spec(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment"]["spec"]["template"]["spec"]
    return spec


def test_every_manifest_parses_and_the_kustomization_lists_them_all() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for name in manifests:
        documents(K8S / name)
    # The example Secret is left out on purpose: real secrets come from a secret store.
    assert set(kustomization["resources"]) == manifests - {"secret.example.yaml"}


def test_the_expected_kinds_are_there(objects: dict[str, dict[str, Any]]) -> None:
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} <= set(objects)


def test_deployment_runs_several_replicas_and_never_drops_below_them_on_rollout(
    objects: dict[str, dict[str, Any]], config_toml: Path
) -> None:
    spec = objects["Deployment"]["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    server = tomllib.loads(config_toml.read_text())["server"]
    assert server.get("replicas", spec["replicas"]) == spec["replicas"], (
        "server.replicas and the Deployment's replicas say the same"
    )


def _port(container: dict[str, Any], ref: int | str) -> int:
    for port in container["ports"]:
        if ref in (port.get("name"), port["containerPort"]):
            return int(port["containerPort"])
    raise AssertionError(f"port {ref!r} is not a container port")


def test_probes_ask_readyz_and_healthz_on_the_port_the_image_serves(
    container: dict[str, Any],
) -> None:
    entry = exec_form(
        next(i for i in parse(DEPLOY / "Dockerfile") if i.keyword == "ENTRYPOINT").args
    )
    served = int(entry[entry.index("--port") + 1])
    ready = container["readinessProbe"]["httpGet"]
    live = container["livenessProbe"]["httpGet"]
    assert ready["path"] == "/readyz"
    assert live["path"] == "/healthz"
    assert _port(container, ready["port"]) == served
    assert _port(container, live["port"]) == served
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_the_startup_probe_outlasts_the_wait_for_the_database(
    container: dict[str, Any], config_toml: Path
) -> None:
    """Else the kubelet kills a gateway still waiting for PostgreSQL before it can say why."""
    probe = container["startupProbe"]
    window = probe["periodSeconds"] * probe["failureThreshold"]
    wait = tomllib.loads(config_toml.read_text())["store"].get("connect_wait_s", 60)
    assert window > wait, (window, wait)


def test_resources_are_requested_and_limited(container: dict[str, Any]) -> None:
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound


def test_pod_runs_non_root_with_a_read_only_root_filesystem(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    pod = pod_spec(objects)["securityContext"]
    ctr = container["securityContext"]
    assert pod["runAsNonRoot"] is True
    user = next(i for i in reversed(parse(DEPLOY / "Dockerfile")) if i.keyword == "USER").args
    assert pod["runAsUser"] == int(user.split(":")[0]), "the image's own user"
    assert pod["runAsUser"] != 0
    assert ctr["readOnlyRootFilesystem"] is True
    assert ctr["allowPrivilegeEscalation"] is False
    assert ctr["capabilities"]["drop"] == ["ALL"]
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounted, "a writable /tmp under a read-only root"


def test_config_map_is_mounted_where_the_entrypoint_reads_it(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    mount = next(
        m for m in container["volumeMounts"] if m["mountPath"] == str(CONFIG_IN_IMAGE.parent)
    )
    assert mount.get("readOnly") is True
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    paths = {i["path"] for i in volume["configMap"].get("items", [])} or set(
        objects["ConfigMap"]["data"]
    )
    assert CONFIG_IN_IMAGE.name in paths


def test_config_map_toml_passes_the_gateway_loader(config_toml: Path) -> None:
    _settings, problems = validate(config_toml)
    assert problems == [], "\n".join(map(str, problems))


def test_every_env_variable_of_the_config_comes_from_a_secret(
    container: dict[str, Any], config_toml: Path
) -> None:
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    needed = set(env_names(tomllib.loads(config_toml.read_text())))
    assert needed, "the config names its secrets"
    missing = needed - set(refs)
    assert not missing, f"no secretKeyRef for {sorted(missing)}"
    config = tomllib.loads(config_toml.read_text())
    assert config["store"]["password_env"] in refs, "the store password, which the URL leaves out"
    plain = [e["name"] for e in container["env"] if e["name"] in needed and "value" in e]
    assert not plain, f"secrets as literal values: {plain}"
    for name, ref in refs.items():
        assert ref.get("optional", False) is False, f"{name}: a missing secret stops the pod"


def test_example_secret_holds_exactly_the_referenced_keys(container: dict[str, Any]) -> None:
    (secret,) = documents(K8S / "secret.example.yaml")
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert {r["name"] for r in refs} == {secret["metadata"]["name"]}
    assert {r["key"] for r in refs} == set(secret["stringData"])


def test_termination_grace_outlasts_prestop_and_the_gateway_drain(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], config_toml: Path
) -> None:
    drain_s = tomllib.loads(config_toml.read_text())["server"].get("shutdown_timeout_s", 10)
    pre_stop = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    sleep = re.search(r"sleep\(?\s*(\d+)", pre_stop)
    assert sleep, pre_stop
    grace = pod_spec(objects)["terminationGracePeriodSeconds"]
    assert grace > int(sleep.group(1)) + drain_s


def test_service_and_budget_select_the_deployment_pods(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selector = objects["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = objects["Service"]["spec"]
    assert service["selector"].items() <= pod_labels.items()
    for port in service["ports"]:
        _port(container, port["targetPort"])
    budget = objects["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    replicas = objects["Deployment"]["spec"]["replicas"]
    if "maxUnavailable" in budget:
        assert 0 < budget["maxUnavailable"] < replicas
    else:
        assert 0 < budget["minAvailable"] < replicas


def test_pods_are_scraped_on_the_metrics_endpoint(
    objects: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert _port(container, int(annotations["prometheus.io/port"]))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
