"""Run the real ``svmon run`` as a subprocess against a test broker and store, and observe it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from daemon import streams
from tests.services import free_port, wait_for

TOPIC_FIELDS = streams.NAMES


@dataclass
class Topics:
    """Topic names of one test, unique so tests sharing a broker never see each other's data."""

    events: str
    inspections: str
    catalog: str
    disclosures: str
    disclosure_requests: str
    dlq: str

    @classmethod
    def unique(cls, prefix: str) -> Topics:
        from tests.services import unique_name

        base = unique_name(prefix)
        return cls(*(f"{base}.{name}" for name in (*TOPIC_FIELDS, "dlq")))

    def by_stream(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in TOPIC_FIELDS}

    def env(self) -> dict[str, str]:
        names = {name: getattr(self, name) for name in (*TOPIC_FIELDS, "dlq")}
        return {f"SVMON_KAFKA__TOPICS__{name.upper()}": value for name, value in names.items()}


@dataclass
class Daemon:
    """One ``svmon run`` process; restartable with the same settings."""

    bootstrap: str
    store_url: str
    topics: Topics
    log_dir: Path
    group: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SVMON_")}
        env.update(
            {
                "SVMON_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "SVMON_KAFKA__GROUP_ID": self.group,
                # Short group timings: a join takes ~2 s instead of ~20 s against Tansu (measured here).
                "SVMON_KAFKA__SESSION_TIMEOUT_MS": "3000",
                "SVMON_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
                "SVMON_KAFKA__MAX_POLL_INTERVAL_MS": "10000",
                "SVMON_STORE__URL": self.store_url,
                "SVMON_STORE__CHECKPOINT_EVERY_MS": "200",
                "SVMON_HTTP__HOST": "127.0.0.1",
                "SVMON_HTTP__PORT": str(self.port),
                "SVMON_LOG__FORMAT": "json",
                **self.topics.env(),
                **self.extra_env,
            }
        )
        return env

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        log = (self.log_dir / f"svmon-{self.group}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run"],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310 - loopback http
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()
        except OSError as error:
            return 0, str(error)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(
            lambda: self.alive() and self.get("/readyz")[0] == 200, timeout, "svmon /readyz to answer 200"
        )

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"svmon exited unexpectedly; log:\n{self.last_log()}")
        return True

    def last_log(self, characters: int = 4000) -> str:
        path = self.log_dir / f"svmon-{self.group}-{self.starts}.log"
        return path.read_text(errors="replace")[-characters:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no checkpoint, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def stored_offsets(sqlite_path: Path) -> dict[tuple[str, int], int]:
    """Next offsets the store has committed, read the way an operator would: straight from SQLite."""
    if not sqlite_path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, timeout=5) as connection:
            rows = connection.execute("SELECT topic, part, next_offset FROM svmon_offsets").fetchall()
    except sqlite3.OperationalError:
        return {}  # the daemon has not created its tables yet
    return {(topic, int(part)): int(offset) for topic, part, offset in rows}
