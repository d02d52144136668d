"""The cProfile output of one ``svmon run``, summarised in microseconds per message.

Only the main thread is profiled: the consumer loop, not the HTTP server or kafka-python's I/O
thread, whose work shows as the main thread waiting.
"""

from __future__ import annotations

import pstats
import sys
from pathlib import Path
from typing import Any

# Own time by where the function lives; the first area whose mark is in ``file:line(function)`` wins.
_AREAS = (
    ("kafka-python: fetch + record parsing", ("/kafka/",)),
    ("pydantic validation", ("/pydantic", "pydantic_core")),
    ("schemas (decode, identifiers)", ("/schemas/",)),
    ("pipeline (prepare)", ("daemon/core/prepare.py",)),
    ("state (entities, partition)", ("daemon/core/state/",)),
    ("store (sqlite checkpoint)", ("daemon/store/", "sqlite3")),
    ("engine (batch loop)", ("daemon/runtime/engine.py",)),
    ("counters (tally, FlowCounters)", ("daemon/core/tally.py", "daemon/exposition/counters.py")),
    ("prometheus_client (counters)", ("prometheus_client",)),
    ("app loop (source, checkpointer, DLQ)", ("daemon/runtime/",)),
    ("json", ("/json/", "_json")),
)

# Where a message's time goes, as cumulative time of the functions that make up the main loop
# (``App.consume`` in daemon/runtime/app.py); indented rows are part of the row above them.
_STAGES = (
    ("kafka poll (wait, CRC, parse records)", "daemon/runtime/source.py", "poll"),
    ("Engine.process", "daemon/runtime/engine.py", "process"),
    ("  Engine._prepare (validate, evicted)", "daemon/runtime/engine.py", "_prepare"),
    ("    Pipeline.prepare", "daemon/core/prepare.py", "prepare"),
    ("      schemas.decode", "schemas/decode.py", "decode"),
    ("  Engine._apply (state, tally, DLQ)", "daemon/runtime/engine.py", "_apply"),
    ("    PartitionState.apply", "daemon/core/state/partition.py", "apply"),
    ("FlowCounters.apply", "daemon/exposition/counters.py", "apply"),
    ("Engine.checkpoint (DLQ flush, store)", "daemon/runtime/engine.py", "checkpoint"),
    ("  SqlStore.checkpoint (SQLite)", "daemon/store/sql.py", "checkpoint"),
    ("Engine.open_scope (restore)", "daemon/runtime/engine.py", "open_scope"),
)

# Built-ins the main thread blocks in: waiting for kafka-python's I/O thread, the network, a timer.
_WAITING = ("'acquire' of '_thread.lock'", "select.", "time.sleep", "'wait' of")

# pstats' table: (file, line, function) -> (primitive calls, calls, own time, cumulative, callers)
_Entries = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]


def summarise_profile(path: Path, messages: int, top: int = 25) -> list[str]:
    """Cumulative time per stage, own time per area and the top functions, in µs per message."""
    entries: _Entries = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values())
    lines = [f"main-thread profile of svmon run: {total:.1f} s own time, {messages:,} messages"]
    lines += _stage_lines(entries, messages)
    area_lines, idle = _area_lines(entries, messages, total)
    lines += area_lines
    lines.append(f"busy (excluding waiting): {(total - idle) / messages * 1e6:.2f} µs/msg")
    lines.append(f"top {top} functions by own time:")
    rows = sorted(
        (
            (tottime, calls, f"{filename}:{line}({name})")
            for (filename, line, name), (_, calls, tottime, *_) in entries.items()
        ),
        reverse=True,
    )
    for tottime, calls, where in rows[:top]:
        short = where.replace(str(Path(sys.prefix)), "<venv>").replace(str(Path.cwd()), ".")
        lines.append(f"  {tottime / messages * 1e6:8.2f} µs/msg {calls:>10,} calls  {short[-110:]}")
    return lines


def _stage_lines(entries: _Entries, messages: int) -> list[str]:
    lines = [f"{'stage (cumulative time)':<42} {'µs/msg':>8}"]
    for label, suffix, function in _STAGES:
        cumulative = sum(
            value[3]
            for (filename, _line, name), value in entries.items()
            if filename.endswith(suffix) and name == function
        )
        lines.append(f"{label:<42} {cumulative / messages * 1e6:>8.2f}")
    return lines


def _area_lines(entries: _Entries, messages: int, total: float) -> tuple[list[str], float]:
    """The area rows, largest first; and the seconds the main thread spent waiting."""
    by_area: dict[str, float] = {}
    idle = 0.0
    for (filename, line, name), (_, _calls, tottime, *_) in entries.items():
        where = f"{filename}:{line}({name})"
        if filename == "~" and any(wait in name for wait in _WAITING):
            idle += tottime
            area = "waiting (select/sleep)"
        else:
            area = next((label for label, marks in _AREAS if any(m in where for m in marks)), "other")
        by_area[area] = by_area.get(area, 0.0) + tottime
    lines = [f"{'area':<42} {'µs/msg':>8} {'share':>6}"]
    for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
        lines.append(f"{area:<42} {seconds / messages * 1e6:>8.2f} {seconds / total:>6.1%}")
    return lines, idle
