"""What the bench prints: progress lines on stderr; the figures as a table and as one JSON line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.dataset import Generated, Produced
from bench.host import Host
from bench.phases.consume import Consumed
from bench.phases.engine import EngineOnly, LargeStore, OpenEvents
from bench.phases.lists import REPEATS, ListsRun
from bench.phases.quix import QuixRun
from bench.phases.scaling import ScalingRun
from bench.phases.svmon import GroupRun, Profiled, Restart, Restarts, SvmonRun

# The throughput targets (README, "Performance"): svmon at least 0.6 x the raw consume rate, and
# ready at most 10 s after a restart.
TARGET_RATIO = 0.6
TARGET_RESTART_S = 10.0
# Issue 15's target for a restart with 1,000,000 events stored (the large store of the restart phase).
TARGET_LARGE_RESTART_S = 3.0
_FULL_SIZE = 1_000_000  # messages, and events in the store: what the targets are stated for

Row = tuple[str, str, str]  # figure, value, note


class Progress:
    """Progress lines on stderr, with the seconds since the benchmark started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Results:
    """Every phase's figures, in the order the phases ran; ``None`` for a phase not asked for."""

    host: Host
    partitions: int
    generated: Generated
    produced: Produced
    raw: Consumed
    validating: Consumed
    svmon: SvmonRun
    group: GroupRun | None
    quix: QuixRun | None
    raw_again: Consumed
    restart: Restart
    large_store: LargeStore | None
    large_ready: Restarts | None
    lists: ListsRun | None
    engine: EngineOnly
    open_events: OpenEvents
    profiled: Profiled | None
    scaling: list[ScalingRun]
    load_average_end: str


def figures(r: Results) -> dict[str, Any]:
    """The figures by name: the JSON line's keys, in its order."""
    f: dict[str, Any] = {
        "load_average_start": r.host.load_average,
        "cpus": r.host.cpus,
        "kafka_crc32c": r.host.kafka_crc32c,
        "messages": r.generated.messages,
        "generate_s": r.generated.seconds,
        "generate_rate": r.generated.rate,
        "partitions": r.partitions,
        "produce_s": r.produced.seconds,
        "produce_rate": r.produced.rate,
        "raw_s": r.raw.seconds,
        "raw_rate": r.raw.rate,
        "raw_first_message_s": r.raw.first_message_s,
        "raw_rate_after_first_message": r.raw.rate_after_first_message,
        "validating_rate": r.validating.rate,
        "validating_ratio": r.raw.seconds / r.validating.seconds,
        "svmon_s": r.svmon.seconds,
        "svmon_rate": r.svmon.rate,
        "svmon_first_checkpoint_s": r.svmon.first_checkpoint_s,
        "svmon_rate_after_first_checkpoint": r.svmon.rate_after_first_checkpoint,
        "svmon_us_per_msg": r.svmon.us_per_msg,
        "svmon_us_per_msg_after_first_checkpoint": r.svmon.us_per_msg_after_first_checkpoint,
        "ratio": r.svmon.rate / r.raw.rate,
        "ratio_after_startup": r.svmon.rate_after_first_checkpoint / r.raw.rate_after_first_message,
        "peak_rss_mib": r.svmon.peak_rss_mib,
        "svmon_cpu_s": r.svmon.cpu_seconds,
        "svmon_cpu_us_per_msg": r.svmon.cpu_us_per_msg,
        "checkpoints": r.svmon.checkpoint_count,
        "checkpoint_mean_ms": 1000 * r.svmon.checkpoint_seconds / max(r.svmon.checkpoint_count, 1),
        "checkpoint_total_s": r.svmon.checkpoint_seconds,
        "svmon_consumed": r.svmon.consumed,
        "svmon_dlq": r.svmon.dlq,
        "svmon_stop_s": r.svmon.stop_seconds,
    }
    if r.group is not None:
        f.update(
            instances=r.group.instances,
            instances_s=r.group.seconds,
            instances_rate=r.group.rate,
            instances_ratio=r.group.rate / r.raw.rate,
            instances_consumed=r.group.consumed,
        )
    if r.quix is not None:
        f.update(_quix_figures(r.quix, r.svmon))
    f.update(
        raw_again_rate=r.raw_again.rate,
        raw_drift=r.raw.seconds / r.raw_again.seconds - 1,
        store_events=r.restart.store_events,
        store_events_resident=r.restart.store_events_resident,
        store_mib=r.restart.store_mib,
        restart_ready_s=r.restart.ready.seconds,
        restart_rss_mib=r.restart.ready.rss_mib,
    )
    if r.large_store is not None and r.large_ready is not None:
        f.update(
            large_store_events=r.large_store.events,
            large_store_open=r.large_store.open,
            large_store_build_s=r.large_store.build_seconds,
            large_store_mib=r.large_store.mib,
            large_restart_ready_s=r.large_ready.median.seconds,
            large_restart_ready_runs_s=[ready.seconds for ready in r.large_ready.runs],
            large_restart_rss_mib=r.large_ready.median.rss_mib,
        )
    if r.lists is not None:
        f.update(_lists_figures(r.lists))
    f.update(
        engine_rate=r.engine.rate,
        engine_us_per_msg=r.engine.us_per_msg,
        engine_checkpoint_us_per_msg=r.engine.checkpoint_us_per_msg,
        bytes_per_open_event=r.open_events.bytes_after_checkpoint,
        bytes_per_open_event_dirty=r.open_events.bytes_before_checkpoint,
        open_events=r.open_events.resident,
    )
    if r.profiled is not None:
        f["profiled_rate"] = r.profiled.run.rate
    if r.scaling:
        f["scaling"] = _scaling_figures(r)
    # What the target leaves per message for everything svmon does beyond a validating consumer.
    f["budget_us_per_msg"] = 1e6 / (TARGET_RATIO * r.raw.rate) - 1e6 / r.validating.rate
    f["load_average_end"] = r.load_average_end
    return f


def _quix_figures(q: QuixRun, svmon: SvmonRun) -> dict[str, Any]:
    """The Quix peer's figures, ``quix_`` before each name, and svmon's rate over its rates.

    ``svmon_vs_quix`` divides svmon's rate from spawn to stored offsets by Quix's from ``app.run()``
    to its last message processed (start-up and the last commit left out: in Quix's favour);
    ``svmon_vs_quix_committed`` uses Quix's rate until its offsets were committed (only its
    interpreter start-up left out), ``svmon_vs_quix_after_startup`` both rates after their joins.
    ``svmon_vs_quix_cpu`` is Quix's CPU time per message over svmon's (each process from spawn, all
    its threads): the comparison that moves least with the machine's load.
    """
    committed = q.committed_rate
    cpu = None
    if q.cpu_us_per_msg is not None and svmon.cpu_us_per_msg:
        cpu = q.cpu_us_per_msg / svmon.cpu_us_per_msg
    return {
        "quix_version": q.version,
        "quix_s": q.seconds,
        "quix_rate": q.rate,
        "quix_first_message_s": q.first_message_s,
        "quix_rate_after_first_message": q.rate_after_first_message,
        "quix_committed_s": q.committed_s,
        "quix_committed_rate": committed,
        "quix_startup_s": q.startup_s,
        "quix_topics_s": q.topics_s,
        "quix_peak_rss_mib": q.peak_rss_mib,
        "quix_cpu_s": q.cpu_seconds,
        "quix_cpu_us_per_msg": q.cpu_us_per_msg,
        "quix_invalid": q.invalid,
        "quix_deltas": q.deltas,
        "quix_entities": q.entities,
        "svmon_vs_quix": svmon.rate / q.rate,
        "svmon_vs_quix_committed": None if committed is None else svmon.rate / committed,
        "svmon_vs_quix_after_startup": svmon.rate_after_first_checkpoint / q.rate_after_first_message,
        "svmon_vs_quix_cpu": cpu,
    }


def _scaling_figures(r: Results) -> list[dict[str, Any]]:
    """svmon per size, the main run's among them, smallest first (``--scaling``)."""
    main = (r.raw, r.svmon, r.restart.store_events, r.restart.store_events_resident)
    runs = [main, *((s.raw, s.svmon, s.store_events, s.store_events_resident) for s in r.scaling)]
    out = []
    for raw, run, events, resident in sorted(runs, key=lambda item: item[1].messages):
        steady = run.us_per_msg_after_first_checkpoint
        raw_us = 1e6 / raw.rate_after_first_message
        out.append(
            {
                "messages": run.messages,
                "rate": round(run.rate, 3),
                "us_per_msg": round(run.us_per_msg, 3),
                "us_per_msg_after_first_checkpoint": None if steady is None else round(steady, 3),
                # Both after their start-up (svmon's first checkpoint, raw's first message): the
                # marginal costs, which a 100k run's joins would otherwise swamp.
                "raw_us_per_msg_after_first_message": round(raw_us, 3),
                "ratio_after_startup": None if steady is None else round(raw_us / steady, 3),
                "peak_rss_mib": None if run.peak_rss_mib is None else round(run.peak_rss_mib, 3),
                # CPU time, start-up included: what the machine's load moves least (the 3M run is long)
                "cpu_us_per_msg": None if run.cpu_us_per_msg is None else round(run.cpu_us_per_msg, 3),
                # the checkpoints' share, from /metrics: does the store's growth make them dearer?
                "checkpoint_us_per_msg": round(1e6 * run.checkpoint_seconds / run.messages, 3),
                "store_events": events,
                "store_events_resident": resident,
            }
        )
    return out


def _lists_figures(r: ListsRun) -> dict[str, Any]:
    """The lists phase's figures, ``lists_`` before each name."""
    return {
        "lists_overdue": r.overdue,
        "lists_json_first_byte_s": r.json.first_byte_s,
        "lists_json_s": r.json.seconds,
        "lists_json_bytes": r.json.bytes,
        "lists_json_rss_mib": r.json.peak_rss_mib,
        "lists_screen_s": r.screen.seconds,
        "lists_screen_rss_mib": r.screen.peak_rss_mib,
        "lists_api_first_headers_s": r.api_first.headers_s,
        "lists_api_first_s": r.api_first.seconds,
        "lists_api_median_headers_s": r.api_median.headers_s,
        "lists_api_median_s": r.api_median.seconds,
        "lists_walk_pages": r.walk.pages,
        "lists_walk_s": r.walk.seconds,
        "lists_walk_page_median_s": r.walk.page_median_s,
        "lists_walk_page_max_s": r.walk.page_max_s,
        "lists_walk_first_page_s": r.walk.first_page_s,
        "lists_walk_last_page_s": r.walk.last_page_s,
        "lists_api_rss_before_walk_mib": r.api_rss_before_walk_mib,
        "lists_api_rss_after_walk_mib": r.api_rss_after_walk_mib,
    }


def run_notes(r: Results) -> list[str]:
    """What to keep in mind when reading the figures of this run."""
    out = []
    validating_ratio = r.raw.seconds / r.validating.seconds
    if validating_ratio < TARGET_RATIO:
        out.append(
            f"a consumer that only validates with pydantic and counts reaches {validating_ratio:.2f}"
            f" of the raw rate: below the target of {TARGET_RATIO} before any state, store or DLQ work"
        )
    drift = r.raw.seconds / r.raw_again.seconds - 1
    if abs(drift) > 0.1:
        out.append(
            f"raw consume moved {drift:+.0%} between the start and the end of the run:"
            " the ratios are uncertain by about as much"
        )
    if r.restart.store_events < _FULL_SIZE and r.large_store is None:
        out.append(
            f"restart measured with {r.restart.store_events:,} events in the store "
            f"({r.restart.store_events_resident:,} resident), not 1,000,000"
        )
    if r.open_events.resident != r.open_events.requested:
        out.append(
            f"only {r.open_events.resident:,} of {r.open_events.requested:,} created events stayed resident"
        )
    if r.quix is not None and r.quix.invalid != r.svmon.dlq:
        out.append(
            f"Quix skipped {r.quix.invalid:,} invalid messages where svmon wrote {r.svmon.dlq:,} to the DLQ:"
            " they did not validate the same"
        )
    if r.generated.messages < _FULL_SIZE:
        out.append(f"{r.generated.messages:,} messages, not 1,000,000 (--messages)")
    return out


def lines(r: Results) -> Iterator[str]:
    """Everything printed on stdout: the table with its notes, the profile if any, the JSON line."""
    f = figures(r)
    yield ""
    yield from table(f, run_notes(r))
    if r.profiled is not None and r.profiled.summary:
        yield ""
        yield from r.profiled.summary
    yield ""
    yield json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in f.items()})


def table(f: dict[str, Any], notes: list[str]) -> Iterator[str]:
    rows = [
        *_consumer_rows(f),
        *_svmon_rows(f),
        *_quix_rows(f),
        *_restart_rows(f),
        *_lists_rows(f),
        *_engine_rows(f),
        *_scaling_rows(f),
        *_host_rows(f),
    ]
    width = max(len(r[0]) for r in rows)
    yield f"{'figure':<{width}}  {'value':>22}  note"
    for name, value, note in rows:
        yield f"{name:<{width}}  {value:>22}  {note}"
    for note in notes:
        yield f"note: {note}"


def _fmt(value: Any, unit: str, spec: str = ",.0f") -> str:
    return "n/a" if value is None else f"{value:{spec}} {unit}"


def _consumer_rows(f: dict[str, Any]) -> list[Row]:
    return [
        ("messages produced", _fmt(f["messages"], "msgs"), f"{f['partitions']} partitions per topic"),
        ("scenario generation", _fmt(f["generate_rate"], "msgs/s"), f"{f['generate_s']:.1f} s"),
        ("produce (kafka-python, acks=1)", _fmt(f["produce_rate"], "msgs/s"), f"{f['produce_s']:.1f} s"),
        ("raw consume (kafka-python group)", _fmt(f["raw_rate"], "msgs/s"), f"{f['raw_s']:.1f} s"),
        (
            "raw consume, after 1st message",
            _fmt(f["raw_rate_after_first_message"], "msgs/s"),
            f"first message at {f['raw_first_message_s']:.1f} s",
        ),
        (
            "kafka-python + pydantic + dict count",
            _fmt(f["validating_rate"], "msgs/s"),
            f"ratio {f['validating_ratio']:.2f}: the ceiling for a validating kafka-python consumer",
        ),
    ]


def _svmon_rows(f: dict[str, Any]) -> list[Row]:
    ratio_verdict = "meets" if f["ratio"] >= TARGET_RATIO else "misses"
    rows = [
        ("svmon run, start to caught up", _fmt(f["svmon_rate"], "msgs/s"), f"{f['svmon_s']:.1f} s"),
        (
            "svmon run, after 1st checkpoint",
            _fmt(f["svmon_rate_after_first_checkpoint"], "msgs/s"),
            f"first offsets stored at {f['svmon_first_checkpoint_s']:.1f} s;"
            f" {_fmt(f['svmon_us_per_msg_after_first_checkpoint'], 'µs/msg', '.1f')} for those after it",
        ),
        ("ratio svmon / raw", f"{f['ratio']:.2f}", f"target ≥ {TARGET_RATIO} ({ratio_verdict})"),
        ("  same, both after startup", f"{f['ratio_after_startup']:.2f}", "steady state, joins excluded"),
        (
            "raw consume, again at the end",
            _fmt(f["raw_again_rate"], "msgs/s"),
            f"{f['raw_drift']:+.0%} against the first: the machine's drift during the run",
        ),
    ]
    if "instances" in f:
        rows.append(
            (
                f"{f['instances']} instances, one group and store",
                _fmt(f["instances_rate"], "msgs/s"),
                f"ratio {f['instances_ratio']:.2f}; consumed {f['instances_consumed']:,}",
            )
        )
    return [
        *rows,
        ("peak RSS (VmHWM)", _fmt(f["peak_rss_mib"], "MiB", ",.1f"), ""),
        (
            "CPU time per message",
            _fmt(f["svmon_cpu_us_per_msg"], "µs/msg", ".1f"),
            f"{_fmt(f['svmon_cpu_s'], 's', '.1f')} of CPU, all threads, start-up included:"
            " load hardly moves it",
        ),
        (
            "checkpoint duration (mean)",
            _fmt(f["checkpoint_mean_ms"], "ms", ",.1f"),
            f"{f['checkpoints']} checkpoints, {f['checkpoint_total_s']:.1f} s total",
        ),
        ("svmon consumed / DLQ writes", f"{f['svmon_consumed']:,} / {f['svmon_dlq']:,}", "from /metrics"),
        ("SIGTERM to exit", _fmt(f["svmon_stop_s"], "s", ".2f"), "final checkpoint included"),
    ]


def _quix_rows(f: dict[str, Any]) -> list[Row]:
    """The Quix peer beside svmon: its rates measured three ways, its memory, what it skipped."""
    if "quix_rate" not in f:
        return []
    committed = f["quix_committed_s"]
    versus_committed = f["svmon_vs_quix_committed"]
    by_cpu = "n/a" if f["svmon_vs_quix_cpu"] is None else f"{f['svmon_vs_quix_cpu']:.2f}"
    return [
        (
            f"Quix Streams {f['quix_version']}, run() to done",
            _fmt(f["quix_rate"], "msgs/s"),
            f"{f['quix_s']:.1f} s; before run(): {f['quix_startup_s']:.1f} s"
            f" (of which {f['quix_topics_s']:.1f} s creating its topics)",
        ),
        (
            "  Quix, after 1st message",
            _fmt(f["quix_rate_after_first_message"], "msgs/s"),
            f"first message at {f['quix_first_message_s']:.1f} s (join, state partitions assigned)",
        ),
        (
            "  Quix, run() to offsets committed",
            _fmt(f["quix_committed_rate"], "msgs/s"),
            "not seen" if committed is None else f"{committed:.1f} s: as svmon's is measured",
        ),
        ("  Quix peak RSS (VmHWM)", _fmt(f["quix_peak_rss_mib"], "MiB", ",.1f"), "its own process"),
        (
            "  Quix CPU time per message",
            _fmt(f["quix_cpu_us_per_msg"], "µs/msg", ".1f"),
            f"{_fmt(f['quix_cpu_s'], 's', '.1f')}, librdkafka's threads included;"
            f" svmon / Quix by CPU {by_cpu}",
        ),
        (
            "ratio svmon / Quix",
            f"{f['svmon_vs_quix']:.2f}",
            f"committed basis {'n/a' if versus_committed is None else f'{versus_committed:.2f}'};"
            f" both after startup {f['svmon_vs_quix_after_startup']:.2f}",
        ),
        (
            "  Quix invalid skipped / deltas",
            f"{f['quix_invalid']:,} / {f['quix_deltas']:,}",
            f"svmon's DLQ writes {f['svmon_dlq']:,}; deltas went through repartition topics",
        ),
    ]


def _restart_rows(f: dict[str, Any]) -> list[Row]:
    ready_verdict = "meets" if f["restart_ready_s"] <= TARGET_RESTART_S else "misses"
    rows = [
        (
            "events in store (resident)",
            f"{f['store_events']:,} ({f['store_events_resident']:,})",
            f"store {f['store_mib']:.0f} MiB",
        ),
        (
            "restart to ready",
            _fmt(f["restart_ready_s"], "s", ".2f"),
            f"target ≤ {TARGET_RESTART_S:.0f} s ({ready_verdict}); "
            f"RSS {_fmt(f['restart_rss_mib'], 'MiB', '.0f')}",
        ),
    ]
    if "large_restart_ready_s" in f:
        verdict = "meets" if f["large_restart_ready_s"] <= TARGET_LARGE_RESTART_S else "misses"
        rows += [
            (
                "store built in-process",
                f"{f['large_store_events']:,} events",
                f"{f['large_store_open']:,} open; {f['large_store_mib']:.0f} MiB;"
                f" built in {f['large_store_build_s']:.0f} s",
            ),
            (
                "restart to ready, that store",
                _fmt(f["large_restart_ready_s"], "s", ".2f"),
                f"target ≤ {TARGET_LARGE_RESTART_S:.0f} s ({verdict}); median of"
                f" {', '.join(f'{seconds:.2f}' for seconds in f['large_restart_ready_runs_s'])};"
                f" RSS {_fmt(f['large_restart_rss_mib'], 'MiB', '.0f')}",
            ),
        ]
    return rows


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms"


def _lists_rows(f: dict[str, Any]) -> list[Row]:
    """``svmon list overdue`` and its API page on the large store, whose open events are all overdue."""
    if "lists_overdue" not in f:
        return []
    rss = _fmt(f["lists_api_rss_before_walk_mib"], "MiB", ".0f")
    return [
        (
            "svmon list overdue --format json",
            _fmt(f["lists_json_s"], "s", ".2f"),
            f"{f['lists_overdue']:,} items, {f['lists_json_bytes'] / 2**20:.1f} MiB;"
            f" first byte at {f['lists_json_first_byte_s']:.2f} s; RSS {f['lists_json_rss_mib']:.0f} MiB",
        ),
        (
            "  --limit 100 --format table",
            _fmt(f["lists_screen_s"], "s", ".2f"),
            f"the first screen; RSS {f['lists_screen_rss_mib']:.0f} MiB",
        ),
        (
            "API overdue?limit=100, 1st request",
            _ms(f["lists_api_first_s"]),
            f"headers at {_ms(f['lists_api_first_headers_s'])}; opens the store connection",
        ),
        (
            f"  same, median of the next {REPEATS}",
            _ms(f["lists_api_median_s"]),
            f"headers at {_ms(f['lists_api_median_headers_s'])}",
        ),
        (
            "API walk, limit=1000 pages",
            _fmt(f["lists_walk_s"], "s", ".1f"),
            f"{f['lists_walk_pages']} pages; per page median {_ms(f['lists_walk_page_median_s'])},"
            f" max {_ms(f['lists_walk_page_max_s'])}; first {_ms(f['lists_walk_first_page_s'])},"
            f" last {_ms(f['lists_walk_last_page_s'])}",
        ),
        (
            "  daemon peak RSS (VmHWM), walk",
            f"{rss} → {_fmt(f['lists_api_rss_after_walk_mib'], 'MiB', '.0f')}",
            "before → after the walk",
        ),
    ]


def _engine_rows(f: dict[str, Any]) -> list[Row]:
    return [
        (
            "engine only (in-process, no Kafka)",
            _fmt(f["engine_rate"], "msgs/s"),
            f"{f['engine_us_per_msg']:.1f} µs/msg",
        ),
        (
            "time left per message at the target",
            _fmt(f["budget_us_per_msg"], "µs/msg", ".1f"),
            "for state, store and DLQ beyond validating (the engine above includes validation)",
        ),
        ("bytes per open event", _fmt(f["bytes_per_open_event"], "B"), f"{f['open_events']:,} open events"),
        ("  same, before the checkpoint", _fmt(f["bytes_per_open_event_dirty"], "B"), "dirty sets included"),
    ]


def _scaling_rows(f: dict[str, Any]) -> list[Row]:
    """One row per size: the cost per message after start-up should not grow with the history."""

    def ratio(size: dict[str, Any]) -> str:
        return _fmt(size["ratio_after_startup"], "", ".2f").strip()

    return [
        (
            f"svmon at {size['messages']:,} msgs, after 1st ckpt",
            _fmt(size["us_per_msg_after_first_checkpoint"], "µs/msg", ".1f"),
            f"{size['us_per_msg']:.1f} start to caught up;"
            f" CPU {_fmt(size['cpu_us_per_msg'], 'µs/msg', '.1f')};"
            f" checkpoints {size['checkpoint_us_per_msg']:.1f}; raw after 1st msg"
            f" {size['raw_us_per_msg_after_first_message']:.1f} (ratio {ratio(size)});"
            f" RSS {_fmt(size['peak_rss_mib'], 'MiB')};"
            f" {size['store_events']:,} events stored, {size['store_events_resident']:,} resident",
        )
        for size in f.get("scaling", [])
    ]


def _host_rows(f: dict[str, Any]) -> list[Row]:
    rows = [
        ("kafka-python CRC32C", f["kafka_crc32c"], "checked on every fetched batch"),
        (
            "load average (1/5/15 min)",
            f"{f['load_average_start']} → {f['load_average_end']}",
            f"{f['cpus']} CPUs",
        ),
    ]
    if "profiled_rate" in f:
        rows.append(
            ("svmon run under cProfile", _fmt(f["profiled_rate"], "msgs/s"), "profiling overhead included")
        )
    return rows
