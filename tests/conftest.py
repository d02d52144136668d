"""Shared fixtures: real services (Tansu, Apache Kafka, PostgreSQL) started by the suite, and a test CA."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.apache_kafka import KafkaCluster, KafkaUnavailable
from tests.certificates import CertificateAuthority, Issued
from tests.postgres import PostgresRole, PostgresServer, schema_dsn, session_postgres
from tests.services import Broker, running_tansu, unavailable, unique_name

_POSTGRES_IN_USE = pytest.StashKey[PostgresServer]()
_BROKERS_IN_USE: list[KafkaCluster] = []
_FIGURES: dict[str, str] = {}


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Measurements a test reports (start times, memory, recovery times), printed at the session's end."""
    return _FIGURES


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One Tansu broker for the session; tests isolate themselves with unique topic names."""
    with running_tansu(tmp_path_factory.mktemp("tansu")) as running:
        yield running


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Tansu broker of the test's own, for tests that pause or kill it."""
    with running_tansu(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One single-node Apache Kafka (KRaft) for the session; tests use topics of their own."""
    with _started(KafkaCluster(tmp_path_factory.mktemp("apache-kafka"), nodes=1)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A 3-broker Apache Kafka cluster (combined KRaft nodes, RF 3, min ISR 2) for failover tests."""
    with _started(KafkaCluster(tmp_path_factory.mktemp("kafka-cluster"), nodes=3)) as cluster:
        yield cluster


@contextmanager
def _started(cluster: KafkaCluster) -> Iterator[KafkaCluster]:
    try:
        cluster.start()
    except KafkaUnavailable as exc:
        unavailable(str(exc))
    _BROKERS_IN_USE.append(cluster)
    rss = ", ".join(f"{node.rss_bytes() / 2**20:.0f}" for node in cluster.nodes)
    _FIGURES[cluster.name] = f"started in {cluster.started_in:.1f} s; RSS per node {rss} MiB"
    try:
        yield cluster
    finally:
        rss = ", ".join(f"{node.rss_bytes() / 2**20:.0f}" for node in cluster.nodes)
        _FIGURES[cluster.name] += f" at start, {rss} MiB at the end"
        cluster.stop()


@pytest.fixture(
    params=[
        pytest.param("tansu", id="tansu"),
        pytest.param("apache_kafka", id="apache-kafka", marks=pytest.mark.apache_kafka),
    ]
)
def any_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """Each broker users meet, in turn: Tansu (the embedded one, fresh per test) and Apache Kafka.

    Tests that pause the broker may take it: the Apache Kafka node is shared by the session but
    the suite runs one test at a time, and pausing loses nothing.
    """
    if request.param == "tansu":
        with running_tansu(tmp_path) as running:
            yield running
    else:
        kafka: KafkaCluster = request.getfixturevalue("apache_kafka")
        yield kafka
        kafka.resume()  # whatever the test did, the next one finds it answering


@pytest.fixture(scope="session")
def postgres_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """DSN of the admin connection to database ``test`` on the session's PostgreSQL (tests/postgres.py)."""
    with session_postgres(
        tmp_path_factory.getbasetemp(), failed=lambda: request.session.testsfailed > 0
    ) as server:
        request.config.stash[_POSTGRES_IN_USE] = server
        yield server.dsn


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """DSN of a fresh schema on the session's PostgreSQL, dropped after the test."""
    schema = unique_name("svmon_test").replace("-", "_")
    with psycopg.connect(postgres_server, connect_timeout=3, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema_dsn(postgres_server, schema)
        finally:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_role(postgres_server: str) -> Iterator[PostgresRole]:
    """A login role with a schema of its own, that the test can lock out of the store and let back in."""
    admin = psycopg.connect(postgres_server, connect_timeout=3, autocommit=True)
    role = PostgresRole(unique_name("svmon").replace("-", "_"), admin, postgres_server)
    admin.execute(f"CREATE ROLE {role.name} LOGIN")
    admin.execute(f"CREATE SCHEMA {role.name} AUTHORIZATION {role.name}")
    try:
        yield role
    finally:
        role.let_in()
        role.disconnect()
        admin.execute(f"DROP SCHEMA {role.name} CASCADE")
        admin.execute(f"DROP ROLE {role.name}")
        admin.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """Say which services the session used and what tests measured; on failure, where broker logs are."""
    server = terminalreporter.config.stash.get(_POSTGRES_IN_USE, None)
    if server is not None:
        terminalreporter.write_line(f"PostgreSQL: {server.describe()}")
    for name, value in _FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
    if exitstatus != 0:
        for cluster in _BROKERS_IN_USE:
            logs = ", ".join(str(node.log_path) for node in cluster.nodes)
            terminalreporter.write_line(f"{cluster.name} logs (kept): {logs}")


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """A throwaway CA that issues servers' and clients' certificates for the TLS tests."""
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"), "svmon test CA")


@pytest.fixture(scope="session")
def server_certificate(authority: CertificateAuthority) -> Issued:
    """A server certificate for 127.0.0.1 and localhost."""
    return authority.issue("server", hosts=["127.0.0.1", "localhost"])
