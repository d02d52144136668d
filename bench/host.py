"""What the host reports: its load, a child process's peak memory, kafka-python's CRC32C; and polling."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Host:
    """The machine at the start of a run: figures are comparable only between similar loads."""

    load_average: str
    cpus: int | None
    kafka_crc32c: str

    @classmethod
    def now(cls) -> Host:
        return cls(load_average(), os.cpu_count(), kafka_crc32c())


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def kafka_crc32c() -> str:
    """Which CRC32C kafka-python checks fetched batches with: the C ``crc32c`` package or pure Python.

    The pure-Python one costs tens of µs per ~300-byte message and dominates both consumers.
    """
    from kafka.record import util

    return "native" if getattr(util, "crc32c_c", None) is not None else "pure-python"


def peak_rss_mib(pid: int) -> float | None:
    """``VmHWM`` (peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time a live process has used so far, all its threads, user and system (``/proc/PID/stat``).

    Unlike wall-clock rates it hardly moves with the machine's load, so it is the figure to compare
    between runs on this shared machine (and between svmon and Quix in one run).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command's closing parenthesis: state is fields[0], utime fields[11], stime fields[12]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``condition`` until it holds; ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
