"""The deploy files hang together: compose, Dockerfile, Prometheus config and Kubernetes manifests.

Docker and Kubernetes cannot run on these machines, so this checks by structure what a
`docker compose config` / `kubectl apply --dry-run` would, plus the conventions of docs/contract.md §10.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from deploy.k8s import build as k8s_build
from tests.apache_kafka import PINNED_KAFKA_VERSION
from tests.services import unavailable

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
HTTP_PORT = 9108
# docs/contract.md §10: SVMON_ prefix, upper case, nested settings separated by a double underscore.
ENV_NAME = re.compile(r"SVMON_[A-Z0-9]+(?:_[A-Z0-9]+)*(?:__[A-Z0-9]+(?:_[A-Z0-9]+)*)*")
REQUIRED_ENV = {"SVMON_KAFKA__BOOTSTRAP_SERVERS", "SVMON_STORE__URL", "SVMON_HTTP__HOST", "SVMON_HTTP__PORT"}
POD_LABELS = {"app.kubernetes.io/name": "svmon"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = _yaml(DEPLOY / "docker-compose.yml")
    return compose


def _k8s_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return objects


def _k8s(kind: str) -> dict[str, Any]:
    (found,) = [obj for obj in _k8s_objects() if obj["kind"] == kind]
    return found


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts.append((source, target))
    return mounts


def test_compose_has_the_five_services() -> None:
    """Compose runs Apache Kafka, svmon, Prometheus, Alertmanager and Grafana."""
    assert set(_compose()["services"]) == {"kafka", "svmon", "prometheus", "alertmanager", "grafana"}


def test_compose_kafka_is_the_official_image_in_kraft_mode() -> None:
    """Kafka is the official apache/kafka image, combined broker+controller (KRaft, no ZooKeeper)."""
    kafka = _compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in yaml.safe_dump(_compose()).lower()
    assert kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"


def test_deploy_files_name_the_kafka_release_the_suite_runs() -> None:
    """Compose's Kafka image, the Kubernetes notes and the operations guide all name the tested release."""
    assert _compose()["services"]["kafka"]["image"] == f"apache/kafka:{PINNED_KAFKA_VERSION}"
    assert f"Apache Kafka {PINNED_KAFKA_VERSION}" in (REPO / "deploy" / "k8s" / "configmap.yaml").read_text()
    assert f"Apache Kafka {PINNED_KAFKA_VERSION}" in (REPO / "docs" / "operations.md").read_text()


def test_compose_dependencies_name_existing_services() -> None:
    """Every depends_on entry names a service of the file, and svmon waits for a healthy Kafka."""
    services = _compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), name
    assert services["svmon"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_bind_mounts_point_at_committed_files() -> None:
    """Each bind-mounted path (relative to deploy/) exists in the repository."""
    for name, service in _compose()["services"].items():
        for source, _target in _bind_mounts(service):
            assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_compose_named_volumes_are_declared() -> None:
    """Every named volume a service uses is declared at the top level."""
    compose = _compose()
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_compose_svmon_is_built_from_the_dockerfile_and_configured_by_spec_env() -> None:
    """svmon builds from deploy/Dockerfile at the repo root and sets the SVMON_* variables (contract §10)."""
    svmon = _compose()["services"]["svmon"]
    assert (DEPLOY / svmon["build"]["context"] / svmon["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    ).resolve()
    env = svmon["environment"]
    assert set(env) >= REQUIRED_ENV
    assert all(ENV_NAME.fullmatch(name) for name in env)
    assert str(env["SVMON_HTTP__PORT"]) == str(HTTP_PORT)
    assert env["SVMON_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_compose_prometheus_loads_the_project_rules_and_scrapes_svmon() -> None:
    """Prometheus's config resolves `rules/*.yml` to the mounted alerts/rules and scrapes svmon:9108."""
    prometheus = _compose()["services"]["prometheus"]
    mounts = dict(_bind_mounts(prometheus))
    config_target = PurePosixPath(mounts["./prometheus/prometheus.yml"])
    config = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    rules_dir = PurePosixPath(mounts["../alerts/rules"])
    assert [str(config_target.parent / pattern) for pattern in config["rule_files"]] == [f"{rules_dir}/*.yml"]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "svmon"]
    assert job["static_configs"][0]["targets"] == [f"svmon:{HTTP_PORT}"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_compose_alertmanager_and_grafana_are_provisioned() -> None:
    """Alertmanager gets alerts/alertmanager.yml; Grafana gets the datasource, provider and dashboards."""
    services = _compose()["services"]
    assert "../alerts/alertmanager.yml" in dict(_bind_mounts(services["alertmanager"]))
    grafana = dict(_bind_mounts(services["grafana"]))
    provider = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "svmon.yml")["providers"][0]
    assert grafana["./grafana/dashboards"] == provider["options"]["path"]
    assert grafana["./grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    assert grafana["./grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    datasource = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"][
        0
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


@pytest.mark.e2e
def test_compose_prometheus_config_passes_promtool() -> None:
    """`promtool check config` accepts deploy/prometheus/prometheus.yml."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool not on PATH")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_unprivileged_with_a_healthz_healthcheck() -> None:
    """The image runs as a non-root uid, exposes 9108 and health-checks /healthz on it."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(rf"^EXPOSE\s+{HTTP_PORT}\b", text, flags=re.MULTILINE)
    (healthcheck,) = re.findall(r"^HEALTHCHECK (?:[^\n]*\\\n)*[^\n]*", text, flags=re.MULTILINE)
    assert f"127.0.0.1:{HTTP_PORT}/healthz" in healthcheck
    assert re.search(r'^CMD \["run"\]', text, flags=re.MULTILINE)
    for name in re.findall(r"\b(SVMON_\w+)=", text):
        assert ENV_NAME.fullmatch(name), name


def test_k8s_objects_have_api_version_kind_and_name() -> None:
    """Every Kubernetes object has apiVersion, kind and metadata.name, in the svmon namespace."""
    objects = _k8s_objects()
    assert {obj["kind"] for obj in objects} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodMonitor",
        "PrometheusRule",
    }
    for obj in objects:
        assert obj["apiVersion"]
        assert obj["kind"]
        assert obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "svmon"


def test_kustomization_lists_every_manifest() -> None:
    """kustomization.yaml names exactly the manifests of deploy/k8s."""
    resources = _yaml(K8S / "kustomization.yaml")["resources"]
    assert set(resources) == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_k8s_deployment_probes_use_healthz_and_readyz_on_the_http_port() -> None:
    """Liveness probes /healthz and readiness /readyz, both on the named port serving 9108."""
    deployment = _k8s("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": HTTP_PORT}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_deployment_is_non_root_and_single_writer() -> None:
    """The pod runs as non-root with a read-only root filesystem; one replica, recreated, never two."""
    deployment = _k8s("Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_k8s_configmap_env_follows_spec_names_and_matches_the_port() -> None:
    """The ConfigMap's SVMON_* names follow docs/contract.md §10 and its HTTP port is the probed one."""
    data = _k8s("ConfigMap")["data"]
    svmon_names = {name for name in data if name.startswith("SVMON_")}
    assert svmon_names >= REQUIRED_ENV
    assert all(ENV_NAME.fullmatch(name) for name in svmon_names)
    assert data["SVMON_HTTP__PORT"] == str(HTTP_PORT)
    (container,) = _k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    assert {"configMapRef": {"name": _k8s("ConfigMap")["metadata"]["name"]}} in container["envFrom"]


def test_k8s_service_and_podmonitor_select_the_pods_by_the_named_port() -> None:
    """Service and PodMonitor select the Deployment's pods and use its `http` port; job is svmon."""
    pod_labels = _k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = _k8s("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = _k8s("PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    # The alert rules select job="svmon": the job comes from this pod label.
    assert pod_labels[monitor["spec"]["jobLabel"]] == "svmon"
    assert POD_LABELS.items() <= pod_labels.items()


def test_k8s_prometheusrule_embeds_exactly_the_rule_groups_of_alerts_rules() -> None:
    """The PrometheusRule's groups equal alerts/rules/*.yml, and the file equals a fresh build."""
    groups: list[dict[str, Any]] = []
    for path in sorted((REPO / "alerts" / "rules").glob("*.yml")):
        groups.extend(_yaml(path)["groups"])
    assert _k8s("PrometheusRule")["spec"]["groups"] == groups
    assert (K8S / "prometheusrule.yaml").read_text(encoding="utf-8") == k8s_build.render()
    assert k8s_build.main(["--check"]) == 0
