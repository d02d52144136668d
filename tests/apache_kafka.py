"""Apache Kafka for the tests: a pinned 4.x broker from Maven Central, run in KRaft mode on the JDK.

No registry here ships Kafka's distribution tarball, but Maven Central serves the broker
(``org.apache.kafka:kafka_2.13``) with its dependencies, which is all the tarball's ``libs/`` is. The
jars are fetched once with Maven into ``~/.cache/svmon/kafka-VERSION/libs`` (outside the checkout, so
``git clean`` keeps them) and every node runs ``kafka.Kafka`` from them on the machine's JDK (17+).

```python
with KafkaCluster(work_dir, nodes=3) as cluster:       # combined broker+controller nodes
    cluster.create_topics(["svmon.events"], partitions=3)  # replication factor 3, min ISR 2
    cluster.kill(cluster.leader_of_most(["svmon.events"]))
```

Every failure to fetch or start raises :class:`KafkaUnavailable` with one readable line (the suite
turns it into a skip on a developer machine and a failure under ``CI=true``). Logs of every node are
kept in its directory; the error message quotes the tail of the one that failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from daemon.tools.broker import accepts_connections, free_port, poll_until

#: The Kafka release the suite is pinned to; docs/operations.md and deploy/ name the same one
#: (tests/unit/test_deploy_files.py checks). ``SVMON_TEST_KAFKA_VERSION`` runs the suite on another.
PINNED_KAFKA_VERSION = "4.1.1"
KAFKA_VERSION = os.environ.get("SVMON_TEST_KAFKA_VERSION", PINNED_KAFKA_VERSION)
# Kafka's POM leaves the SLF4J binding to the distribution; without one the broker logs nothing.
# 2.24.3 is the log4j-core version kafka_2.13 4.1 depends on.
_SLF4J_BINDING = ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3")
#: Heap of each node: small, so three nodes, svmon and the suite share two cores and a few GiB.
JVM_HEAP = ("-Xms256m", "-Xmx512m")
_HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 3000
_TOPIC_ALREADY_EXISTS = 36

__all__ = [
    "JVM_HEAP",
    "KAFKA_VERSION",
    "PINNED_KAFKA_VERSION",
    "KafkaCluster",
    "KafkaNode",
    "KafkaUnavailable",
    "ScramListener",
    "cache_dir",
    "fetch_kafka",
]


class KafkaUnavailable(Exception):
    """Apache Kafka cannot be fetched or started here; the message says why in one line."""


def cache_dir() -> Path:
    """Where downloads live across checkouts: ``$SVMON_CACHE_DIR``, else ``$XDG_CACHE_HOME/svmon``."""
    explicit = os.environ.get("SVMON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "svmon"


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>svmon.tests</groupId>
  <artifactId>apache-kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{version}</version>
    </dependency>
    <dependency>
      <groupId>{binding[0]}</groupId><artifactId>{binding[1]}</artifactId><version>{binding[2]}</version>
    </dependency>
  </dependencies>
</project>
"""


def fetch_kafka(version: str = KAFKA_VERSION, *, say: Callable[[str], None] = print) -> Path:
    """The ``libs/`` directory of Kafka ``version``, fetched with Maven the first time.

    A lock file serialises concurrent fetches (two suites on one machine); a stamp file marks a
    complete download, so an interrupted one is redone rather than half used.
    """
    home = cache_dir() / f"kafka-{version}"
    libs = home / "libs"
    stamp = home / "complete"
    pom = _POM.format(version=version, binding=_SLF4J_BINDING)
    # The stamp holds the POM it was fetched for: a changed dependency list fetches again.
    if stamp.exists() and stamp.read_text() == pom:
        return libs
    maven = shutil.which("mvn")
    if maven is None:
        raise KafkaUnavailable("Maven (mvn) is not installed; it fetches Apache Kafka from Maven Central")
    home.mkdir(parents=True, exist_ok=True)
    with (home / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == pom:
            return libs
        say(f"fetching Apache Kafka {version} from Maven Central into {libs} (once)")
        (home / "pom.xml").write_text(pom)
        partial = home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        started = time.monotonic()
        result = subprocess.run(
            [
                maven,
                "-q",
                "-B",
                "-f",
                str(home / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={partial}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
            reason = lines[0].strip() if lines else f"mvn exited with {result.returncode}"
            raise KafkaUnavailable(f"cannot fetch Apache Kafka {version} from Maven Central: {reason}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        stamp.write_text(pom)
        jars = len(list(libs.glob("*.jar")))
        say(f"fetched Apache Kafka {version}: {jars} jars in {time.monotonic() - started:.0f} s")
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise KafkaUnavailable("no java on PATH (Kafka 4.x needs a JDK 17 or newer)")
    return java


@dataclass(frozen=True)
class ScramListener:
    """A ``SASL_SSL`` listener with SCRAM-SHA-512: the server's PEM (key + chain) and one user."""

    server_pem: Path
    username: str
    password: str


_LOG4J = """appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass
class KafkaNode:
    """One combined broker + controller process of a :class:`KafkaCluster`."""

    node_id: int
    directory: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    sasl_port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self, java: str, libs: Path) -> None:
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start {self.starts} =====\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [
                java,
                *JVM_HEAP,
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(self.directory / "server.properties"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def reap(self, timeout: float) -> None:
        process = self.process
        if process is not None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, characters: int = _LOG_TAIL_CHARS) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-characters:].decode(errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of the node's JVM, from /proc."""
        if self.process is None:
            return 0
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


class KafkaCluster:
    """``nodes`` combined KRaft nodes on loopback; ``with`` starts them, leaving the block kills them.

    One node is the single-node broker of most tests; three give replication factor 3 with
    ``min.insync.replicas=2``, so any one node can die without losing an acknowledged write.
    """

    def __init__(
        self,
        directory: Path,
        *,
        nodes: int = 1,
        version: str = KAFKA_VERSION,
        scram: ScramListener | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self.directory = directory
        self.version = version
        self.scram = scram
        self._start_timeout = start_timeout
        self.nodes = [
            KafkaNode(i, directory / f"node-{i}", sasl_port=free_port() if scram else None)
            for i in range(1, nodes + 1)
        ]
        self.replication_factor = min(3, nodes)
        self.min_insync = 2 if nodes >= 3 else 1
        self.started_in: float | None = None
        self._java = ""
        self._libs = Path()

    # --- what clients see -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"Apache Kafka {self.version} ({len(self.nodes)} node{'s' if len(self.nodes) > 1 else ''})"

    @property
    def bootstrap(self) -> str:
        """Every node's PLAINTEXT listener, comma-separated (as an operator configures it)."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def sasl_bootstrap(self) -> str:
        return ",".join(f"{_HOST}:{node.sasl_port}" for node in self.nodes if node.sasl_port)

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> KafkaCluster:
        """Format every node's log directory (once) and start them all; wait for every broker."""
        self._libs = fetch_kafka(self.version)
        self._java = _java()
        started = time.monotonic()
        cluster_id = self._run_tool("random-uuid").strip().splitlines()[-1]
        for node in self.nodes:
            self._configure(node)
            self._format(node, cluster_id)
        for node in self.nodes:
            node.spawn(self._java, self._libs)
        try:
            self.wait_for_brokers({node.node_id for node in self.nodes}, self._start_timeout)
        except KafkaUnavailable:
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        return self

    def wait_for_brokers(self, node_ids: set[int], timeout: float) -> None:
        """Return once the cluster's metadata lists ``node_ids`` as live brokers."""

        def listed() -> bool:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None and node.node_id in node_ids:
                    raise KafkaUnavailable(
                        f"Kafka node {node.node_id} exited with {node.process.returncode} at start; "
                        f"log {node.log_path}:\n{node.log_tail()}"
                    )
            # A restarted node is unfenced (listed) a moment before its client listener accepts.
            accepting = all(accepts_connections(_HOST, self.node(n).port) for n in node_ids)
            return accepting and node_ids <= self.live_brokers()

        if not poll_until(listed, timeout, interval=0.25):
            worst = next((n for n in self.nodes if n.node_id in node_ids), self.nodes[0])
            raise KafkaUnavailable(
                f"Kafka brokers {sorted(node_ids)} not all up within {timeout:.0f} s "
                f"(live: {sorted(self.live_brokers())}); log {worst.log_path}:\n{worst.log_tail()}"
            )

    def live_brokers(self) -> set[int]:
        """Node ids of the unfenced brokers in the cluster's metadata, asked of any live node."""
        try:
            with self.admin(timeout_ms=2000) as admin:
                cluster = admin.describe_cluster()
        except Exception:  # no node answers yet
            return set()
        return {int(b["broker_id"]) for b in cluster["brokers"] if not b.get("is_fenced")}

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, its sockets reset, its leaderships orphaned."""
        node = self.node(node_id)
        node.signal(signal.SIGCONT)
        node.signal(signal.SIGKILL)
        node.reap(10)

    def restart(self, node_id: int, timeout: float = 90.0) -> None:
        """Start a killed node again on its old data; return once it is a live broker again."""
        node = self.node(node_id)
        node.spawn(self._java, self._libs)
        self.wait_for_brokers({node_id}, timeout)

    def pause(self) -> None:
        """Freeze every node (SIGSTOP): connections stay open, nothing is answered, nothing is lost."""
        for node in self.nodes:
            node.signal(signal.SIGSTOP)

    def resume(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill every node and reap it (the data is throwaway; a controlled shutdown only costs time)."""
        for node in self.nodes:
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGKILL)
        for node in self.nodes:
            node.reap(10)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- topics and leadership --------------------------------------------------------------------

    @contextlib.contextmanager
    def admin(self, timeout_ms: int = 10000) -> Iterator[Any]:
        from kafka.admin import KafkaAdminClient

        live = [node.bootstrap for node in self.nodes if node.running]
        client = KafkaAdminClient(
            bootstrap_servers=live or [self.nodes[0].bootstrap],
            client_id="svmon-tests",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
        try:
            yield client
        finally:
            client.close()

    def create_topics(
        self, names: Iterable[str], partitions: int = 2, timeout_s: float = 30.0, **configs: str
    ) -> None:
        """Create topics replicated on ``replication_factor`` nodes; an existing name is left alone."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return
        topic_configs = {"min.insync.replicas": str(self.min_insync), **configs}
        spec = {
            name: {
                "num_partitions": partitions,
                "replication_factor": self.replication_factor,
                "configs": topic_configs,
            }
            for name in wanted
        }
        with self.admin(int(timeout_s * 1000)) as admin:
            response = admin.create_topics(spec, timeout_ms=int(timeout_s * 1000), raise_errors=False)
            failures = [
                f"{t['name']}: error {t['error_code']} {t.get('error_message') or ''}".strip()
                for t in response["topics"]
                if t["error_code"] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failures:
                raise KafkaUnavailable("cannot create topics: " + "; ".join(failures))
            # Creation returns before every broker has the partitions: wait until each has a leader.
            if not poll_until(lambda: self._all_led(admin, wanted), timeout_s, interval=0.1):
                raise KafkaUnavailable(f"topics {wanted} got no leaders within {timeout_s:.0f} s")

    @staticmethod
    def _all_led(admin: Any, topics: Sequence[str]) -> bool:
        try:
            described = admin.describe_topics(list(topics))
        except Exception:
            return False
        return all(
            topic["error_code"] == 0
            and topic["partitions"]
            and all(p["leader_id"] >= 0 for p in topic["partitions"])
            for topic in described
        )

    def describe(self, topics: Sequence[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        """The admin API's description of ``topics``, retried while a dead node is still in the metadata."""
        described: list[dict[str, Any]] = self._asking(
            lambda admin: admin.describe_topics(list(topics)), timeout
        )
        return described

    def _asking(self, question: Callable[[Any], Any], timeout: float) -> Any:
        # Right after a kill the metadata still names the dead node, and the admin client may send
        # its request there: ask again (a new client, live bootstrap nodes only) until one answers.
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.admin(timeout_ms=3000) as admin:
                    return question(admin)
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise KafkaUnavailable(
                        f"the cluster did not answer within {timeout:.0f} s: {exc}"
                    ) from exc
                time.sleep(0.2)

    def leaders(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """(topic, partition) -> node id of its leader (-1 while it has none)."""
        return {
            (topic["name"], int(p["partition_index"])): int(p["leader_id"])
            for topic in self.describe(topics)
            for p in topic["partitions"]
        }

    def in_sync_replicas(self, topics: Sequence[str]) -> dict[tuple[str, int], set[int]]:
        return {
            (topic["name"], int(p["partition_index"])): {int(n) for n in p["isr_nodes"]}
            for topic in self.describe(topics)
            for p in topic["partitions"]
        }

    def leader_of_most(self, topics: Sequence[str]) -> int:
        """The node leading the most partitions of ``topics`` (ties: the lowest id)."""
        counts: dict[int, int] = {}
        for leader in self.leaders(topics).values():
            counts[leader] = counts.get(leader, 0) + 1
        return min(counts, key=lambda node_id: (-counts[node_id], node_id))

    def active_controller(self) -> int:
        """Node id of the KRaft quorum's current leader (the active controller)."""
        quorum = self._asking(lambda admin: admin.describe_metadata_quorum(), 30.0)
        return int(quorum["topics"][0]["partitions"][0]["leader_id"])

    def consumer_group_lag(self, group: str) -> dict[tuple[str, int], int]:
        """LAG per partition as ``kafka-consumer-groups --describe --group GROUP`` prints it."""
        result = subprocess.run(
            [
                self._java,
                "-cp",
                f"{self._libs}/*",
                f"-Dlog4j2.configurationFile={self.nodes[0].directory / 'log4j2.properties'}",
                "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                "--bootstrap-server",
                self.bootstrap,
                "--describe",
                "--group",
                group,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise KafkaUnavailable(
                f"kafka-consumer-groups failed: {result.stderr.strip()[-_LOG_TAIL_CHARS:]}"
            )
        lag: dict[tuple[str, int], int] = {}
        for line in result.stdout.splitlines():
            columns = line.split()
            # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
            if len(columns) >= 6 and columns[0] == group and columns[2].isdigit():
                lag[(columns[1], int(columns[2]))] = int(columns[5]) if columns[5].isdigit() else -1
        return lag

    # --- configuration ----------------------------------------------------------------------------

    def _configure(self, node: KafkaNode) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n.node_id}@{_HOST}:{n.controller_port}" for n in self.nodes)
        listeners = [f"PLAINTEXT://{_HOST}:{node.port}", f"CONTROLLER://{_HOST}:{node.controller_port}"]
        advertised = [f"PLAINTEXT://{_HOST}:{node.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        settings: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": node.directory / "data",
            "num.partitions": 1,
            "auto.create.topics.enable": "false",
            "default.replication.factor": self.replication_factor,
            "min.insync.replicas": self.min_insync,
            "offsets.topic.replication.factor": self.replication_factor,
            "offsets.topic.num.partitions": 5,
            "transaction.state.log.replication.factor": self.replication_factor,
            "transaction.state.log.min.isr": self.min_insync,
            # Test timings: a consumer group with a 3 s session (tests/daemon_process.py) must be
            # accepted, a join must not wait for latecomers, and a killed node must be fenced (and its
            # leaderships moved) within a few seconds instead of the default 9.
            "group.min.session.timeout.ms": 500,
            "group.initial.rebalance.delay.ms": 0,
            "broker.heartbeat.interval.ms": 500,
            "broker.session.timeout.ms": 3000,
            # The generated scenarios carry 2023 timestamps: with the default 7-day time retention the
            # broker's cleaner (every 5 minutes) would delete them from under the tests.
            "log.retention.ms": -1,
            "log.segment.bytes": 64 * 1024 * 1024,
        }
        if self.scram is not None and node.sasl_port is not None:
            listeners.append(f"SASL_SSL://{_HOST}:{node.sasl_port}")
            advertised.append(f"SASL_SSL://{_HOST}:{node.sasl_port}")
            protocols.append("SASL_SSL:SASL_SSL")
            settings.update(
                {
                    "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                    ),
                    "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
                    "listener.name.sasl_ssl.ssl.keystore.location": self.scram.server_pem,
                }
            )
        settings["listeners"] = ",".join(listeners)
        settings["advertised.listeners"] = ",".join(advertised)
        settings["listener.security.protocol.map"] = ",".join(protocols)
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (node.directory / "server.properties").write_text(text)
        (node.directory / "log4j2.properties").write_text(_LOG4J)

    def _format(self, node: KafkaNode, cluster_id: str) -> None:
        arguments = ["format", "-t", cluster_id, "-c", str(node.directory / "server.properties")]
        if self.scram is not None:
            arguments += [
                "--add-scram",
                f"SCRAM-SHA-512=[name={self.scram.username},password={self.scram.password}]",
            ]
        self._run_tool(*arguments)

    def _run_tool(self, *arguments: str) -> str:
        result = subprocess.run(
            [self._java, "-cp", f"{self._libs}/*", "kafka.tools.StorageTool", *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise KafkaUnavailable(
                f"kafka-storage {arguments[0]} failed ({result.returncode}): "
                + (result.stderr or result.stdout).strip()[-_LOG_TAIL_CHARS:]
            )
        return result.stdout


def main() -> int:
    """``python -m tests.apache_kafka``: fetch the pinned broker now (``make test`` does, before pytest)."""
    try:
        libs = fetch_kafka()
    except KafkaUnavailable as exc:
        in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
        print(f"{'error' if in_ci else 'note'}: {exc}{'' if in_ci else '; the Apache Kafka tests will skip'}")
        return 1 if in_ci else 0
    print(f"Apache Kafka {KAFKA_VERSION}: {libs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
