"""svmon against an Apache Kafka listener with SASL_SSL and SCRAM-SHA-512, set up only through its settings.

The broker's certificate comes from a throwaway CA made here. With the right settings svmon counts
a scenario exactly. With a wrong password, a CA that did not sign the broker's certificate, or
PLAINTEXT aimed at the TLS port, it stays up, /readyz answers 503 with the cause in an operator's
words, the log says so once per backoff step and never contains a password, and a restart with the
right settings recovers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from seeds.scenario import Scenario, generate
from tests.apache_kafka import KafkaCluster, KafkaUnavailable, ScramListener
from tests.certificates import CertificateAuthority
from tests.daemon_process import Daemon, Topics
from tests.integration.test_exactness import _truth_totals, caught_up, produce, totals, year_counts
from tests.services import unavailable, unique_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.apache_kafka]

USER = "svmon-reader"
# Distinctive, so that a leak into the log is found by a plain search.
PASSWORD = "Zq7-correct-horse-battery"  # noqa: S105 - the throwaway broker's test credential
WRONG_PASSWORD = "Xv9-wrong-staple-battery"  # noqa: S105 - deliberately wrong


class SecureKafka:
    """A single Apache Kafka node with a SASL_SSL (SCRAM-SHA-512) listener, and the CA that signed it."""

    def __init__(
        self, cluster: KafkaCluster, ca: CertificateAuthority, stranger: CertificateAuthority
    ) -> None:
        self.cluster = cluster
        self.ca = ca
        self.stranger = stranger

    def settings(
        self, *, password: str = PASSWORD, cafile: Path | None = None, protocol: str = "SASL_SSL"
    ) -> dict[str, str]:
        """svmon's documented settings (docs/configuration.md) for this listener, as environment variables."""
        if protocol == "PLAINTEXT":
            return {"SVMON_KAFKA__BOOTSTRAP_SERVERS": self.cluster.sasl_bootstrap}
        return {
            "SVMON_KAFKA__BOOTSTRAP_SERVERS": self.cluster.sasl_bootstrap,
            "SVMON_KAFKA__SECURITY_PROTOCOL": protocol,
            "SVMON_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "SVMON_KAFKA__SASL_USERNAME": USER,
            "SVMON_KAFKA__SASL_PASSWORD": password,
            "SVMON_KAFKA__SSL_CAFILE": str(cafile or self.ca.cert),
        }


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    base = tmp_path_factory.mktemp("secure-kafka")
    ca = CertificateAuthority.create(base / "ca", "svmon test CA")
    stranger = CertificateAuthority.create(base / "stranger", "some other CA")
    server = ca.issue("broker", hosts=["127.0.0.1", "localhost"])
    cluster = KafkaCluster(base / "kafka", nodes=1, scram=ScramListener(server.bundle, USER, PASSWORD))
    try:
        cluster.start()
    except KafkaUnavailable as exc:
        unavailable(str(exc))
    try:
        yield SecureKafka(cluster, ca, stranger)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(5150, scale=0.03)


def _daemon(
    kafka: SecureKafka, topics: Topics, tmp_path: Path, store: str, settings: dict[str, str]
) -> Daemon:
    # Daemon's own bootstrap setting is overridden by the listener's in ``settings``.
    return Daemon(kafka.cluster.bootstrap, store, topics, tmp_path, unique_name("g"), extra_env=settings)


def _log_lines(daemon: Daemon) -> list[dict[str, object]]:
    path = daemon.log_dir / f"svmon-{daemon.group}-{daemon.starts}.log"
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"event": line})
    return lines


def test_right_credentials_count_exactly(
    secure_kafka: SecureKafka, scenario: Scenario, tmp_path: Path
) -> None:
    """Over SASL_SSL with SCRAM-SHA-512 svmon consumes and writes its DLQ, and the figures are the truth."""
    topics = Topics.unique("secure")
    _, ends = produce(secure_kafka.cluster, topics, scenario)
    store_path = tmp_path / "state.db"
    daemon = _daemon(secure_kafka, topics, tmp_path, f"sqlite:///{store_path}", secure_kafka.settings())
    daemon.start()
    try:
        daemon.wait_ready()
        wait_for(
            lambda: daemon.alive() and caught_up(store_path, ends), 120, "svmon to consume over SASL_SSL"
        )
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    assert totals(year_counts(f"sqlite:///{store_path}", scenario)) == _truth_totals(scenario)
    assert PASSWORD not in daemon.last_log(10**7)


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("wrong-password", "wrong user name or password"),
        ("unknown-ca", "not signed by a CA in kafka.ssl_cafile"),
        ("plaintext-to-tls", "is a TLS listener but kafka.security_protocol is PLAINTEXT"),
    ],
)
def test_a_wrong_setting_is_named_and_fixing_it_recovers(
    secure_kafka: SecureKafka, scenario: Scenario, tmp_path: Path, mistake: str, expected: str
) -> None:
    """A misconfigured svmon stays up, says why on /readyz and in its log, and recovers once corrected."""
    settings = {
        "wrong-password": secure_kafka.settings(password=WRONG_PASSWORD),
        "unknown-ca": secure_kafka.settings(cafile=secure_kafka.stranger.cert),
        "plaintext-to-tls": secure_kafka.settings(protocol="PLAINTEXT"),
    }[mistake]
    topics = Topics.unique(f"misconfigured-{mistake}")
    _, ends = produce(secure_kafka.cluster, topics, scenario)
    store_path = tmp_path / "state.db"
    store = f"sqlite:///{store_path}"
    daemon = _daemon(secure_kafka, topics, tmp_path, store, settings)
    daemon.start()

    def retries() -> list[dict[str, object]]:
        return [
            line for line in _log_lines(daemon) if line.get("event") == "cannot connect to Kafka; retrying"
        ]

    try:
        wait_for(lambda: daemon.alive() and len(retries()) >= 3, 90, "three connection attempts")
        status, body = daemon.get("/readyz")
        assert status == 503
        assert expected in body
        assert daemon.get("/healthz")[0] == 200
        assert daemon.get("/metrics")[0] == 200
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    attempts = retries()
    assert all(expected in str(line["reason"]) for line in attempts)
    # Once per backoff step: each retry line announces the next, doubled, wait.
    waits = [float(str(line["retry_in_s"])) for line in attempts]
    assert waits == [min(0.5 * 2**n, 30.0) for n in range(len(waits))]
    log = daemon.last_log(10**7)
    assert PASSWORD not in log
    assert WRONG_PASSWORD not in log

    fixed = _daemon(secure_kafka, topics, tmp_path, store, secure_kafka.settings())
    fixed.start()
    try:
        fixed.wait_ready()
        wait_for(
            lambda: fixed.alive() and caught_up(store_path, ends), 120, "the corrected svmon to catch up"
        )
    finally:
        assert fixed.stop() == 0, fixed.last_log()
    assert totals(year_counts(store, scenario)) == _truth_totals(scenario)
