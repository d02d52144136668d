"""``svmon run`` as a child process, and what can be read from outside it: its store and ``/metrics``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import GROUP_TIMINGS, Partition, Topics
from daemon.core.state.entities import EVENT
from daemon.tools.broker import free_port, stop_child


@dataclass
class Svmon:
    """One ``svmon run`` subprocess on a store; startable again on the same store."""

    bootstrap: str
    store: Path
    topics: Topics
    log_dir: Path
    group: str
    profile_to: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)  # an SVMON_* variable of the caller (e.g. a checkpoint cadence) applies
        env.update(
            {
                "SVMON_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "SVMON_KAFKA__GROUP_ID": self.group,
                **{f"SVMON_KAFKA__{name.upper()}": str(value) for name, value in GROUP_TIMINGS.items()},
                "SVMON_STORE__URL": f"sqlite:///{self.store}",
                "SVMON_HTTP__HOST": "127.0.0.1",
                "SVMON_HTTP__PORT": str(self.port),
                "SVMON_LOG__FORMAT": "json",
                **self.topics.env(),
            }
        )
        return env

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"svmon-{self.group}-{self.starts}.log"

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        profile = ["-m", "cProfile", "-o", str(self.profile_to)] if self.profile_to else []
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, *profile, "-m", "daemon", "run"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"svmon exited unexpectedly; its log ends with:\n{tail}")
        return True

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()
        except OSError as error:
            return 0, str(error)

    def metrics(self, names: set[str]) -> dict[str, float] | None:
        """:func:`metric_sums` of this instance's ``/metrics``; ``None`` when it does not answer 200."""
        status, text = self.get("/metrics")
        return metric_sums(text, names) if status == 200 else None

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (finish the batch, checkpoint), SIGKILL after ``timeout``; safe to call twice."""
        if self.process is not None:
            stop_child(self.process, timeout)


def metric_sums(text: str, names: set[str]) -> dict[str, float]:
    """Sum of every sample of each wanted name (all label sets) in a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    sums = dict.fromkeys(names, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                sums[sample.name] += sample.value
    return sums


def stored_offsets(path: Path) -> dict[Partition, int]:
    """Next offsets committed in svmon's SQLite store (read-only; empty before its tables exist)."""
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            rows = connection.execute("SELECT topic, part, next_offset FROM svmon_offsets").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}


def stored_events(path: Path) -> tuple[int, int]:
    """(events in the store, of which resident) — what a restart has to know about and to load."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
        total, resident = connection.execute(
            "SELECT count(*), coalesce(sum(resident), 0) FROM svmon_entities WHERE kind = ?", (EVENT,)
        ).fetchone()
    return int(total), int(resident)


def store_mib(path: Path) -> float:
    """Size of an SQLite store with its ``-wal`` and ``-shm`` files, in MiB."""
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*")) / 2**20
