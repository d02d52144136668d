"""Run the real ``svmon demo`` as a subprocess, watch its output and its process tree, and report."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.core.timeutil import SHANGHAI
from tests.services import wait_for

CAUGHT_UP = "caught up:"


@dataclass
class Demo:
    """One ``python -m daemon demo`` process, its output in a file (a pipe could fill and block it)."""

    process: subprocess.Popen[bytes]
    output: Path
    errors: Path
    seen: dict[int, int] = field(default_factory=dict)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def diagnostics(self) -> str:
        return f"stdout:\n{self.text()[-3000:]}\nstderr:\n{self.errors.read_text(errors='replace')[-3000:]}"

    def running(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the demo exited with {self.process.returncode}\n{self.diagnostics()}")
        return True

    def wait_caught_up(self, timeout: float) -> None:
        wait_for(lambda: self.running() and CAUGHT_UP in self.text(), timeout, "the demo to report caught up")

    def line_with(self, prefix: str) -> str:
        return next(line.strip() for line in self.text().splitlines() if line.strip().startswith(prefix))

    def remember_descendants(self) -> dict[int, int]:
        """Every process below the demo now, as pid -> start time (to tell a reused pid apart)."""
        self.seen.update(descendants(self.process.pid))
        return dict(self.seen)

    def kill_if_running(self) -> None:
        """SIGKILL the demo and everything below it when a test failed midway: leave nothing behind."""
        if self.process.poll() is None:
            for pid in [*still_running(self.remember_descendants()), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def http_json(url: str, method: str = "GET") -> Any:
    """The JSON answer of a loopback HTTP request (the demo's control port, Prometheus, Alertmanager)."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback http
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def start_demo(tmp_path: Path, *options: str) -> Demo:
    """Start the demo with no terminal on stdin, its store and output under ``tmp_path``."""
    output, errors = tmp_path / "demo.out", tmp_path / "demo.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVMON_")}
    with output.open("wb") as out, errors.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "demo", *options],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
        )
    return Demo(process, output, errors)


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process; None once it is gone (zombies count as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces and ')'
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Processes below ``root`` (children, grandchildren, …) as pid -> start time, from /proc."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: dict[int, int] = {}
    pending = [root]
    while pending:
        for pid, started in children.get(pending.pop(), []):
            found[pid] = started
            pending.append(pid)
    return found


def still_running(processes: dict[int, int]) -> list[int]:
    """The pids of ``processes`` that are still the same live process."""
    return [
        pid for pid, started in processes.items() if (stat := _stat(pid)) is not None and stat[1] == started
    ]


def run_report(store_url: str, *options: str) -> tuple[str, datetime, datetime]:
    """``svmon report --period 2023`` output, with the wall-clock moments just before and after it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVMON_")}
    before = datetime.now(SHANGHAI)
    completed = subprocess.run(
        [sys.executable, "-m", "daemon", "report", "--period", "2023", "--store", store_url, *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    after = datetime.now(SHANGHAI)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, before, after


def report_json(store_url: str) -> tuple[dict[str, Any], datetime, datetime]:
    text, before, after = run_report(store_url, "--format", "json", "--by", "department")
    report: dict[str, Any] = json.loads(text)
    return report, before, after
