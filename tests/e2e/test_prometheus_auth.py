"""A real Prometheus scrapes a real ``svmon run`` over TLS with basic auth; without the password it cannot.

svmon runs with a web configuration (docs/configuration.md "Access"): TLS from a throwaway CA
(tests/certificates.py) and one bcrypt user. Debian's Prometheus has two jobs on the same target:
``svmon`` with ``scheme: https``, ``tls_config.ca_file`` and ``basic_auth.password_file``, as in
deploy/prometheus/prometheus.yml, and ``anonymous`` with the CA but no credentials.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from tests.certificates import CertificateAuthority
from tests.daemon_process import Daemon, Topics
from tests.e2e.prometheus_fixtures import Prometheus, _process, binary
from tests.services import Broker, free_port, unique_name, wait_for

pytestmark = pytest.mark.e2e

_USER = "prometheus"
_PASSWORD = "e2e-scrape-password"  # noqa: S105 -- a test password; svmon gets only its hash
_READY_TIMEOUT_S = 60.0
_SCRAPE_TIMEOUT_S = 30.0
_HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Access:
    """The web configuration svmon runs with, and what a scraper needs: the CA and the password file."""

    authority: CertificateAuthority
    web_config: Path
    password_file: Path


@pytest.fixture(scope="module")
def access(tmp_path_factory: pytest.TempPathFactory) -> Access:
    """A throwaway CA, svmon's certificate for 127.0.0.1, its web configuration and the password file."""
    directory = tmp_path_factory.mktemp("access")
    authority = CertificateAuthority.create(directory / "ca", "svmon e2e CA")
    server = authority.issue("svmon", hosts=["127.0.0.1", "localhost"])
    hashed = bcrypt.hashpw(_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = directory / "web-config.yml"
    web_config.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": str(server.cert), "key_file": str(server.key)},
                "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
                "basic_auth_users": {_USER: hashed},
            }
        ),
        encoding="utf-8",
    )
    password_file = directory / "scrape-password"
    password_file.write_text(_PASSWORD, encoding="utf-8")
    return Access(authority, web_config, password_file)


def _client_context(access: Access) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(access.authority.cert))


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _https(
    daemon: Daemon, access: Access, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """Status and headers of a GET over TLS (trusting the test CA); status 0 when nothing answers."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", daemon.port, context=_client_context(access), timeout=_HTTP_TIMEOUT_S
    )
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    except OSError:
        return 0, {}
    finally:
        connection.close()


@pytest.fixture(scope="module")
def svmon(broker: Broker, access: Access, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A real ``svmon run`` behind the web configuration, once /readyz (open to probes) says ready."""
    workdir = tmp_path_factory.mktemp("svmon")
    topics = Topics.unique("auth")
    broker.create_topics(topics.by_stream().values())
    broker.create_topics([topics.dlq], partitions=1)
    daemon = Daemon(
        broker.bootstrap,
        f"sqlite:///{workdir / 'state.db'}",
        topics,
        workdir,
        unique_name("svmon-auth"),
        extra_env={"SVMON_HTTP__WEB_CONFIG_FILE": str(access.web_config)},
    )
    daemon.start()
    try:
        wait_for(
            lambda: daemon.alive() and _https(daemon, access, "/readyz")[0] == 200,
            _READY_TIMEOUT_S,
            "svmon /readyz over TLS to answer 200",
        )
        yield daemon
    finally:
        try:
            daemon.stop(timeout=15)
        except subprocess.TimeoutExpired:  # stopping on SIGTERM is the daemon's own tests' business
            daemon.kill()


@pytest.fixture(scope="module")
def prometheus(
    svmon: Daemon, access: Access, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping svmon every second as job ``svmon`` (credentials) and ``anonymous``."""
    workdir = tmp_path_factory.mktemp("prometheus")
    target = {"static_configs": [{"targets": [f"127.0.0.1:{svmon.port}"]}]}
    tls = {"scheme": "https", "tls_config": {"ca_file": str(access.authority.cert)}}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "svmon",
                **tls,
                "basic_auth": {"username": _USER, "password_file": str(access.password_file)},
                **target,
            },
            {"job_name": "anonymous", **tls, **target},
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    argv = [
        binary("prometheus"),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with _process(argv, log_path, f"{url}/-/ready", f"Prometheus on port {port}"):
        yield Prometheus(url=url, log_path=log_path)


def _target(prometheus: Prometheus, job: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/targets", timeout=5) as response:  # noqa: S310
        targets: list[dict[str, Any]] = json.load(response)["data"]["activeTargets"]
    (found,) = [target for target in targets if target["labels"]["job"] == job]
    return found


def _up(prometheus: Prometheus, job: str) -> list[str]:
    return [sample["value"][1] for sample in prometheus.query(f'up{{job="{job}"}}')]


def test_prometheus_scrapes_svmon_over_tls_with_basic_auth(prometheus: Prometheus) -> None:
    """The job with the CA and the password file is up and stores svmon's series."""
    wait_for(lambda: _up(prometheus, "svmon") == ["1"], _SCRAPE_TIMEOUT_S, 'up{job="svmon"} == 1')
    assert _target(prometheus, "svmon")["lastError"] == ""
    assert prometheus.query('supervision_build_info{job="svmon"}')
    assert prometheus.query('supervision_ready{job="svmon"} == 1')


def test_prometheus_without_credentials_gets_401(prometheus: Prometheus) -> None:
    """The job without basic_auth is down with a 401 as its last error, and stores no svmon series."""
    wait_for(
        lambda: _target(prometheus, "anonymous")["health"] == "down", _SCRAPE_TIMEOUT_S, "anonymous job down"
    )
    assert "401" in _target(prometheus, "anonymous")["lastError"]
    assert _up(prometheus, "anonymous") == ["0"]
    assert prometheus.query('{job="anonymous", __name__=~"supervision_.+"}') == []


def test_probes_are_open_and_metrics_and_api_ask_for_the_password(svmon: Daemon, access: Access) -> None:
    """Over TLS the probes answer anyone; /metrics and the API ask for the password, with the headers."""
    assert _https(svmon, access, "/healthz")[0] == 200
    assert _https(svmon, access, "/readyz")[0] == 200
    for path in ("/metrics", "/api/v1/indicators?period=2023", "/api/v1/lists/errors"):
        status, headers = _https(svmon, access, path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Basic ")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert _https(svmon, access, path, _basic(_USER, "wrong"))[0] == 401
    assert _https(svmon, access, "/metrics", _basic(_USER, _PASSWORD))[0] == 200


def test_svmon_keeps_serving_after_a_failed_handshake_and_logs_no_secret(
    svmon: Daemon, access: Access, prometheus: Prometheus
) -> None:
    """A plain-HTTP client on the TLS port is dropped and logged; svmon serves on, logging no password."""
    with socket.create_connection(("127.0.0.1", svmon.port), timeout=_HTTP_TIMEOUT_S) as plain:
        plain.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        while plain.recv(4096):  # the server closes the connection after the failed handshake
            pass
    assert _https(svmon, access, "/healthz")[0] == 200
    wait_for(
        lambda: "TLS handshake failed" in svmon.last_log(10**7), _SCRAPE_TIMEOUT_S, "the handshake log line"
    )
    wait_for(lambda: _up(prometheus, "svmon") == ["1"], _SCRAPE_TIMEOUT_S, 'up{job="svmon"} == 1')
    log = svmon.last_log(10**7)
    assert _PASSWORD not in log
    assert base64.b64encode(f"{_USER}:{_PASSWORD}".encode()).decode() not in log
