"""The drill-down lists on the large store: ``svmon list overdue`` as a command, and
``GET /api/v1/lists/overdue`` of a running daemon, one page and the whole list page by page.

Every open event of ``bench.phases.engine.build_large_store`` has its deadline in 2025, so at
today's date the overdue list holds all of them: the longest list that store can give. Every answer
is checked against that count before its time counts (a wrong answer fast is no figure).
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.dataset import unique_group
from bench.host import peak_rss_mib, wait_until
from bench.phases.engine import LargeStore
from bench.process import Svmon
from daemon.tools.broker import TansuBroker

_RSS_MARK = "bench-peak-rss-mib="
_CHECKOUT = Path(__file__).resolve().parents[2]  # holds the ``bench`` package, for the wrapper
# ``svmon list`` as ``python -m daemon`` runs it, then its own ``VmHWM`` on stderr. Not
# ``ru_maxrss``: Linux carries the parent's high-water mark into it across fork and exec (the bench
# holds every produced message), and RUSAGE_CHILDREN would be the largest child so far.
_WRAPPER = (
    "import os, sys\n"
    "from daemon.cli import main\n"
    "status = main(sys.argv[1:])\n"
    f"sys.path.insert(0, {str(_CHECKOUT)!r})\n"
    "from bench.host import peak_rss_mib\n"
    f"print('{_RSS_MARK}' + str(peak_rss_mib(os.getpid())), file=sys.stderr)\n"
    "sys.exit(status)\n"
)
_API = "/api/v1/lists/overdue"
REPEATS = 20  # requests after the first, for a median without the connection's opening
_WALK_PAGE = 1000  # the API's largest page


@dataclass(frozen=True)
class ListCommand:
    """One ``svmon list`` subprocess, from its start: when its reader gets anything, and everything."""

    first_byte_s: float
    seconds: float
    bytes: int
    peak_rss_mib: float


@dataclass(frozen=True)
class Request:
    """One GET: seconds until its response headers (the whole answer is built before them) and its end."""

    headers_s: float
    seconds: float


@dataclass(frozen=True)
class Walk:
    """The whole list through the API, ``limit=1000`` pages following ``next_cursor``.

    First and last page apart: a keyset page should cost the same at the end as at the start.
    """

    pages: int
    seconds: float
    page_median_s: float
    page_max_s: float
    first_page_s: float
    last_page_s: float


@dataclass(frozen=True)
class ListsRun:
    """The overdue list of the large store through the command and through the daemon's API."""

    overdue: int  # the list's total, checked equal to the store's open events
    json: ListCommand  # the whole list, --format json
    screen: ListCommand  # the first screen, --limit 100 --format table
    api_first: Request  # limit=100; opens the daemon's store connection
    api_median: Request  # the medians of the next requests of the same page
    walk: Walk
    api_rss_before_walk_mib: float | None
    api_rss_after_walk_mib: float | None


def measure_lists(broker: TansuBroker, store: LargeStore, work: Path) -> ListsRun:
    """The command on ``store`` (no daemon running), then a daemon on it for the API; stopped after."""
    url = f"sqlite:///{store.path}"
    whole, body = run_list(["overdue", "--format", "json", "--store", url], work / "list-json.err")
    check_json_list(body, store.open)
    screen, _ = run_list(
        ["overdue", "--limit", "100", "--format", "table", "--store", url], work / "list-screen.err"
    )
    svmon = Svmon(broker.bootstrap, store.path, store.topics, work, unique_group("bench-lists"))
    svmon.start()
    try:
        wait_until(lambda: svmon.alive() and svmon.get("/readyz")[0] == 200, 300, "svmon /readyz 200", 0.05)
        first, repeated = first_and_repeated(svmon.port, store.open)
        before = peak_rss_mib(svmon.pid)
        walk = walk_list(svmon.port, store.open)
        after = peak_rss_mib(svmon.pid)
        svmon.stop()
    finally:
        svmon.stop(10)
    return ListsRun(store.open, whole, screen, first, repeated, walk, before, after)


def run_list(arguments: list[str], stderr_path: Path) -> tuple[ListCommand, bytes]:
    """``svmon list ARGUMENTS`` through :data:`_WRAPPER`, its stdout read as it comes; and that stdout.

    Timed from before the interpreter starts, since a reader waits for its imports too.
    """
    chunks: list[bytes] = []
    first_byte: float | None = None
    started = time.perf_counter()
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, "list", *arguments],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            bufsize=0,  # unbuffered: each read returns what the child has written so far
        )
    assert process.stdout is not None
    try:
        while chunk := process.stdout.read(1 << 16):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            chunks.append(chunk)
        status = process.wait()
        elapsed = time.perf_counter() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    errors = stderr_path.read_text(errors="replace")
    if status != 0 or first_byte is None:
        raise RuntimeError(
            f"svmon list {' '.join(arguments)} exited {status}; stderr ends with:\n{errors[-3000:]}"
        )
    body = b"".join(chunks)
    return ListCommand(first_byte, elapsed, len(body), _peak_rss_mib(errors)), body


def _peak_rss_mib(stderr: str) -> float:
    """The peak RSS :data:`_WRAPPER` printed last on stderr (after anything svmon wrote there)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith(_RSS_MARK):
            return float(line.removeprefix(_RSS_MARK))
    raise RuntimeError(f"svmon list printed no {_RSS_MARK} line on stderr")


def check_json_list(body: bytes, expected: int) -> None:
    """Refuse a JSON list whose total or number of items is not ``expected``."""
    answer = json.loads(body)
    if answer["total"] != expected or len(answer["items"]) != expected:
        raise RuntimeError(
            f"svmon list overdue gave total {answer['total']} and {len(answer['items'])} items,"
            f" expected {expected} (every open event of the store)"
        )


def first_and_repeated(port: int, expected: int) -> tuple[Request, Request]:
    """The first ``limit=100`` page, then the medians of :data:`REPEATS` more of the same page."""
    path = f"{_API}?limit=100"
    first, answer = get_json(port, path)
    if answer["total"] != expected or len(answer["items"]) != min(100, expected):
        raise RuntimeError(f"{path} gave total {answer['total']} and {len(answer['items'])} items")
    repeats = [get_json(port, path)[0] for _ in range(REPEATS)]
    median = Request(
        statistics.median(r.headers_s for r in repeats), statistics.median(r.seconds for r in repeats)
    )
    return first, median


def walk_list(port: int, expected: int) -> Walk:
    """Every page of the list, checking that they hold ``expected`` distinct events in all."""
    seen: set[str] = set()
    times: list[float] = []
    cursor: str | None = None
    started = time.perf_counter()
    while True:
        path = f"{_API}?limit={_WALK_PAGE}" + (f"&cursor={quote(cursor)}" if cursor else "")
        timed, answer = get_json(port, path)
        times.append(timed.seconds)
        if answer["total"] != expected:
            raise RuntimeError(
                f"page {len(times)} of the walk gave total {answer['total']}, expected {expected}"
            )
        seen.update(item["event_id"] for item in answer["items"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    elapsed = time.perf_counter() - started
    if len(seen) != expected:
        raise RuntimeError(f"walking the overdue list gave {len(seen)} distinct events, expected {expected}")
    return Walk(len(times), elapsed, statistics.median(times), max(times), times[0], times[-1])


def get_json(port: int, path: str) -> tuple[Request, dict[str, Any]]:
    """GET ``path`` on a new connection (as a client that does not keep one): its times and JSON."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        headers = time.perf_counter() - started
        body = response.read()
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:500]!r}")
    answer: dict[str, Any] = json.loads(body)
    return Request(headers, elapsed), answer
