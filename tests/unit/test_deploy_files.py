"""The deploy files hang together: compose, Dockerfile, Prometheus config and Kubernetes manifests.

Docker and Kubernetes cannot run on these machines, so this checks by structure what a
`docker compose config` / `kubectl apply --dry-run` would, plus the conventions of docs/contract.md §10.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from daemon.exposition.webconfig import load_web_config
from deploy.k8s import build as k8s_build
from tests.apache_kafka import PINNED_KAFKA_VERSION
from tests.certificates import CertificateAuthority
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


def test_compose_has_the_five_services_and_the_access_setup() -> None:
    """Compose runs Apache Kafka, svmon, Prometheus, Alertmanager and Grafana, and a one-shot access setup;
    the feeder only with ``--profile demo``."""
    services = _compose()["services"]
    assert {name for name, service in services.items() if not service.get("profiles")} == {
        "kafka",
        "svmon",
        "prometheus",
        "alertmanager",
        "grafana",
        "access",
    }
    assert {name: service["profiles"] for name, service in services.items() if service.get("profiles")} == {
        "feeder": ["demo"]
    }


def test_compose_demo_feeder_runs_svmon_feed_against_the_compose_kafka() -> None:
    """The feeder is the svmon image running a ``svmon feed`` command line svmon's parser accepts, into
    the compose Kafka once healthy, and its health check asks the control port it serves."""
    from daemon.cli import build_parser

    services = _compose()["services"]
    feeder = services["feeder"]
    assert feeder["image"] == services["svmon"]["image"]
    assert feeder["build"] == services["svmon"]["build"]
    assert feeder["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert feeder["environment"] == {"SVMON_KAFKA__BOOTSTRAP_SERVERS": "kafka:9092"}
    args = build_parser().parse_args(feeder["command"])  # the image's entrypoint is `svmon`
    assert args.command == "feed"
    check = feeder["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{args.control_port}/incidents" in check[3]
    assert 'ENTRYPOINT ["svmon"]' in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


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


def _healthcheck_code() -> str:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (command,) = re.findall(r'^\s+CMD (\["python", "-c", .*\])$', text, flags=re.MULTILINE)
    code: str = yaml.safe_load(command)[2]
    return code


@pytest.mark.parametrize("tls", [False, True])
def test_the_image_healthcheck_passes_on_plain_http_and_on_tls(tmp_path: Path, tls: bool) -> None:
    """The HEALTHCHECK's own code, run against a live server (plain, or TLS when the image is given a
    web configuration), exits 0; against a port nobody serves it exits non-zero."""
    from prometheus_client import CollectorRegistry

    from daemon.exposition.access import WebConfig
    from daemon.exposition.http import HttpServer

    env = {key: value for key, value in os.environ.items() if not key.startswith("SVMON_")}
    web_config = WebConfig()
    if tls:
        issued = CertificateAuthority.create(tmp_path, "healthcheck CA").issue("svmon", hosts=["svmon"])
        path = tmp_path / "web-config.yml"
        path.write_text(f"tls_server_config:\n  cert_file: {issued.cert}\n  key_file: {issued.key}\n")
        web_config = load_web_config(path)
        env["SVMON_HTTP__WEB_CONFIG_FILE"] = str(path)
    server = HttpServer("127.0.0.1", 0, CollectorRegistry(), list, web_config=web_config)
    server.start()
    try:
        code = _healthcheck_code().replace(f":{HTTP_PORT}/", f":{server.port}/")
        assert subprocess.run([sys.executable, "-c", code], env=env, timeout=30, check=False).returncode == 0
    finally:
        server.stop()
    failed = subprocess.run(
        [sys.executable, "-c", code], env=env, timeout=30, capture_output=True, check=False
    )
    assert failed.returncode != 0


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
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTPS"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTPS"}
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


# ---------------------------------------------------------------------------------------------------
# Access (docs/configuration.md "Access"): the example web configuration, compose's access setup
# (deploy/web-config/generate.sh), Prometheus's svmon job and the Kubernetes Secret mounts.

WEB_CONFIG = DEPLOY / "web-config"
# What generate.sh writes (its header lists them).
ACCESS_FILES = {"ca.pem", "server.crt", "server.key", "scrape-password", "web-config.yml"}


def _volume_mount(service: dict[str, Any], volume: str) -> PurePosixPath:
    (target,) = [entry.split(":")[1] for entry in service["volumes"] if entry.split(":")[0] == volume]
    return PurePosixPath(target)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_example_web_config_loads_with_a_certificate_beside_it(tmp_path: Path) -> None:
    """The example web config is valid (TLS, one bcrypt user) once its certificate and key exist."""
    server = CertificateAuthority.create(tmp_path / "ca", "deploy test CA").issue("server", ["svmon"])
    shutil.copy(server.cert, tmp_path / "server.crt")
    shutil.copy(server.key, tmp_path / "server.key")
    example = tmp_path / "web-config.yml"
    shutil.copy(WEB_CONFIG / "web-config.yml", example)
    config = load_web_config(example)
    assert config.ssl_context() is not None
    assert config.basic_auth_required
    assert not config.authorized(None)


def test_compose_access_setup_feeds_svmon_and_prometheus() -> None:
    """The access volume holds svmon's web config and Prometheus's CA and password, made before both start."""
    compose = _compose()
    services = compose["services"]
    access, svmon, prometheus = services["access"], services["svmon"], services["prometheus"]
    assert "svmon-access" in compose["volumes"]
    setup = PurePosixPath(dict(_bind_mounts(access))["./web-config"])
    made = _volume_mount(access, "svmon-access")
    script, directory, example, key_owner = access["entrypoint"][1:]
    assert (script, directory, example) == (
        str(setup / "generate.sh"),
        str(made),
        str(setup / "web-config.yml"),
    )
    (user,) = re.findall(r"^USER\s+(\S+)", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert key_owner == user  # the key is readable by svmon's uid only
    for service in (svmon, prometheus):
        assert service["depends_on"]["access"]["condition"] == "service_completed_successfully"
    web_config = PurePosixPath(svmon["environment"]["SVMON_HTTP__WEB_CONFIG_FILE"])
    assert web_config == _volume_mount(svmon, "svmon-access") / "web-config.yml"
    config_dir = PurePosixPath(dict(_bind_mounts(prometheus))["./prometheus/prometheus.yml"]).parent
    (job,) = [
        job
        for job in _yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
        if job["job_name"] == "svmon"
    ]
    assert job["scheme"] == "https"
    assert job["basic_auth"]["username"] in _yaml(WEB_CONFIG / "web-config.yml")["basic_auth_users"]
    mounted = _volume_mount(prometheus, "svmon-access")
    # Prometheus takes relative paths from its configuration file's directory.
    for path in (job["tls_config"]["ca_file"], job["basic_auth"]["password_file"]):
        resolved = config_dir / path
        assert resolved.parent == mounted
        assert resolved.name in ACCESS_FILES


@pytest.fixture(scope="module")
def generated_access(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory deploy/web-config/generate.sh fills, run as compose's access service runs it."""
    if shutil.which("openssl") is None:
        unavailable("openssl not on PATH (Debian: apt-get install openssl)")
    directory = tmp_path_factory.mktemp("access") / "access"
    subprocess.run(
        ["sh", str(WEB_CONFIG / "generate.sh"), str(directory), str(WEB_CONFIG / "web-config.yml")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return directory


def test_generated_access_is_a_web_config_svmon_loads_with_the_generated_password(
    generated_access: Path,
) -> None:
    """generate.sh writes its five files, the key private, and a web config taking the scrape password."""
    assert {path.name for path in generated_access.iterdir()} == ACCESS_FILES
    assert (generated_access / "server.key").stat().st_mode & 0o777 == 0o400
    config = load_web_config(generated_access / "web-config.yml")
    password = (generated_access / "scrape-password").read_text(encoding="utf-8")
    assert config.authorized(_basic("prometheus", password))
    assert not config.authorized(_basic("prometheus", password + "x"))


def test_generated_certificate_verifies_for_the_compose_host_name(generated_access: Path) -> None:
    """svmon's generated certificate passes a strict TLS check for host `svmon` against the generated CA."""
    server = load_web_config(generated_access / "web-config.yml").ssl_context()
    assert server is not None
    client = ssl.create_default_context(cafile=str(generated_access / "ca.pem"))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    server_end, client_end = socket.socketpair()
    with server_end, client_end, ThreadPoolExecutor(1) as pool:
        accepted = pool.submit(server.wrap_socket, server_end, server_side=True)
        with client.wrap_socket(client_end, server_hostname="svmon") as connection:
            assert connection.version() is not None
        accepted.result(timeout=10).close()


def test_generate_sh_keeps_an_existing_setup(generated_access: Path) -> None:
    """A second run leaves the CA, the key and the password alone, so a restart does not change them."""
    before = {path.name: path.read_bytes() for path in generated_access.iterdir()}
    subprocess.run(
        ["sh", str(WEB_CONFIG / "generate.sh"), str(generated_access)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert {path.name: path.read_bytes() for path in generated_access.iterdir()} == before


def test_k8s_web_config_is_a_mounted_secret_and_the_podmonitor_scrapes_https() -> None:
    """The ConfigMap's web config file lies in a Secret volume; the PodMonitor sends TLS and basic auth."""
    path = PurePosixPath(_k8s("ConfigMap")["data"]["SVMON_HTTP__WEB_CONFIG_FILE"])
    pod = _k8s("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    mount = mounts[str(path.parent)]
    assert mount["readOnly"] is True
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    assert volume["secret"]["secretName"]
    (endpoint,) = _k8s("PodMonitor")["spec"]["podMetricsEndpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["secret"]["key"]
    assert {endpoint["basicAuth"]["username"]["key"], endpoint["basicAuth"]["password"]["key"]} == {
        "username",
        "password",
    }
