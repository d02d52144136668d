"""svmon's throughput benchmark (``make bench``): one run on loopback, figures printed, nothing asserted.

Phases, in order, against one Tansu broker (``daemon.tools.broker``), each a function of
``bench/phases`` returning its figures:

1. generate ~``--messages`` realistic records (``seeds.scenario.generate`` at the matching scale) and
   produce them to the five topics (``--partitions`` each, plus a one-partition DLQ);
2. **raw**: a plain kafka-python group consumer reads everything; done when its count equals the
   produced count (never from the high watermark: Tansu reports it as the base offset of the last batch);
3. **validating**: the same consumer, also validating every value with svmon's pydantic models and
   counting per schema and department: the ceiling for any consumer built on these two libraries;
4. **svmon**: ``svmon run`` as a subprocess with the product's checkpoint cadence; done when the
   offsets in its SQLite store reach the produced end offsets. Peak RSS is ``VmHWM``, checkpoint time
   comes from ``/metrics``; with ``--instances N``, N of them in one group on one store as well;
5. **quix**, unless ``--no-quix``, right after the single svmon instance (before the ``--instances``
   group): the peer, a Quix Streams application (the ``bench`` extra) as a subprocess over the same
   topics, doing the closest work Quix supports (``bench/phases/quix.py``: svmon's validation,
   per-entity state where the latest version wins, counts per department in state through a
   repartition topic, at-least-once with changelog topics, committing at svmon's checkpoint
   cadence); done when it has processed every produced message, by its own count; its peak RSS is
   its own process's ``VmHWM``;
6. **raw again**: the raw consumer once more, for the machine's drift during the run;
7. **restart**: ``svmon run`` again on that store; time until ``/readyz`` answers 200; and, unless
   ``--store-events 0``, the same on a store of that many events built in-process;
8. **lists**, unless ``--store-events 0``: the overdue list of that store (every open event: their
   deadlines are in 2025). ``svmon list overdue`` as a subprocess, whole as JSON (time to first
   byte, total, bytes, its own peak RSS; total and items checked) and its first screen
   (``--limit 100 --format table``); then ``GET /api/v1/lists/overdue`` of a daemon on the store:
   the first ``limit=100`` page (it opens the store connection) and the median of 20 more, and the
   whole list in ``limit=1000`` pages following ``next_cursor`` (per-page times, the daemon's
   ``VmHWM`` before and after);
9. **engine only**: the same messages through an in-process ``Engine`` (no Kafka), and the bytes
   per open event under ``tracemalloc``;
10. optionally (``--profile PATH``) a further ``svmon run`` under cProfile, summarised per message;
11. optionally (``--scaling``) svmon alone at 100k and 3M messages (``--scaling-sizes``), each on a
    broker and store of its own, for µs/msg beside the main run's (``bench/phases/scaling.py``).

The figures are printed as a table and as one JSON line (paste it into an issue note). Every child
process is stopped on exit, Ctrl-C and SIGTERM included. The load average is printed because the
machine is shared: compare figures only between runs with a similar load.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

# `python bench/throughput.py` (what the Makefile runs) puts bench/ on sys.path, not the checkout
# that holds the `bench` package; put the checkout first, however svmon itself was installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import Topics, generate_messages, produce, unique_group
from bench.host import Host, load_average
from bench.phases.consume import consume_raw, consume_validating
from bench.phases.engine import build_large_store, engine_only, open_event_memory
from bench.phases.lists import measure_lists
from bench.phases.quix import quix_missing, run_quix
from bench.phases.scaling import SIZES, run_scaling
from bench.phases.svmon import restart, restart_on_store, run_group, run_profiled, run_svmon
from bench.process import Svmon
from bench.report import Progress, Results, lines
from daemon.tools.broker import TansuBroker


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000, help="about how many records to produce")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each input topic")
    parser.add_argument("--seed", type=int, default=2023, help="scenario seed")
    parser.add_argument("--open-events", type=int, default=100_000, help="events for the bytes/event figure")
    parser.add_argument(
        "--store-events",
        type=int,
        default=1_000_000,
        help="events in the store for the restart-to-ready and lists figures (0 skips those phases)",
    )
    parser.add_argument("--open-share", type=float, default=0.1, help="share of those events left open")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="also run this many svmon instances in one group on one SQLite store (scale-out figure)",
    )
    parser.add_argument(
        "--no-quix", action="store_true", help="skip the Quix Streams peer (it needs the bench extra)"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also run svmon alone at other sizes and print µs/msg for each (3M takes many minutes)",
    )
    parser.add_argument(
        "--scaling-sizes",
        type=_sizes,
        default=SIZES,
        metavar="N,N",
        help=f"the sizes --scaling runs besides --messages (default {','.join(map(str, SIZES))})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    parser.add_argument("--profile", type=Path, metavar="PATH", help="also profile svmon run into PATH")
    return parser.parse_args(argv)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = None if args.no_quix else quix_missing()
    if missing is not None:
        # Before any phase: a run that would stop at the Quix phase after minutes of others.
        print(f"error: {missing}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    host = Host.now()
    with ExitStack() as stack:
        work = _work_directory(stack, keep=args.keep)
        say = Progress()
        say(f"load average {host.load_average} on {host.cpus} CPUs; work dir {work}")

        messages, generated = generate_messages(args.messages, args.seed)
        count = generated.messages
        say(f"generated {count:,} messages in {generated.seconds:.1f} s")
        broker = stack.enter_context(TansuBroker(log_path=work / "tansu.log"))
        topics = Topics.create(broker, args.partitions)
        produced = produce(broker, topics, messages)
        del messages
        say(f"produced {count:,} in {produced.seconds:.1f} s to {len(produced.ends)} partitions")

        settings = topics.settings()
        batch = settings.kafka.max_poll_records
        raw = consume_raw(broker, topics, count, batch)
        say(f"raw consumer: {raw.rate:,.0f} msgs/s")
        # The ceiling for any kafka-python consumer that validates with pydantic, whatever else it
        # does: if this misses the target ratio, so must svmon, which also keeps and checkpoints state.
        validating = consume_validating(broker, topics, count, batch)
        ratio = raw.seconds / validating.seconds
        say(f"validating consumer: {validating.rate:,.0f} msgs/s (ratio {ratio:.2f})")

        svmon = Svmon(broker.bootstrap, work / "svmon.db", topics, work, unique_group("bench-svmon"))
        single = run_svmon(svmon, produced.ends)
        say(f"svmon: {single.rate:,.0f} msgs/s (ratio {single.rate / raw.rate:.2f})")
        quix = None if args.no_quix else run_quix(broker, topics, work, produced.ends, settings)
        if quix is not None:
            say(
                f"quix: {quix.rate:,.0f} msgs/s (svmon / quix {single.rate / quix.rate:.2f});"
                f" peak RSS {quix.peak_rss_mib or float('nan'):,.0f} MiB"
            )
        group = None
        if args.instances > 1:
            group = run_group(broker, topics, work, produced.ends, args.instances)
            say(f"{args.instances} instances: {group.rate:,.0f} msgs/s (ratio {group.rate / raw.rate:.2f})")

        # The same raw consume once more: how far the machine's speed moved while svmon ran, which
        # is how far the ratios above can be trusted (this machine drifts by tens of percent).
        raw_again = consume_raw(broker, topics, count, batch)
        say(f"raw consumer again: {raw_again.rate:,.0f} msgs/s ({raw.seconds / raw_again.seconds - 1:+.0%})")

        restarted = restart(svmon)
        say(f"restart to ready: {restarted.ready.seconds:.1f} s")
        large_store = large_ready = lists = None
        if args.store_events > 0:
            large_store = build_large_store(broker, work, args.store_events, args.partitions, args.open_share)
            say(f"built a store with {args.store_events:,} events ({large_store.open:,} open)")
            large_ready = restart_on_store(broker, large_store.topics, large_store.path, work)
            in_store = f"{args.store_events:,} events in the store"
            runs = ", ".join(f"{ready.seconds:.1f}" for ready in large_ready.runs)
            say(f"restart to ready with {in_store}: {large_ready.median.seconds:.1f} s (median of {runs})")
            lists = measure_lists(broker, large_store, work)
            say(
                f"svmon list overdue ({lists.overdue:,} items): {lists.json.seconds:.1f} s as JSON;"
                f" API walk {lists.walk.seconds:.1f} s in {lists.walk.pages} pages"
            )

        engine = engine_only(settings, produced.placed, work, batch)
        say(f"engine only: {engine.rate:,.0f} msgs/s")
        open_events = open_event_memory(settings, produced.placed, args.open_events, work)
        profiled = None
        if args.profile is not None:
            profiled = run_profiled(broker, topics, work, produced.ends, args.profile)
        # Last, on brokers of their own: a 3M run must not slow the phases above or be slowed by
        # the main broker's data.
        scaling = (
            run_scaling(args.scaling_sizes, args.seed, args.partitions, work, say) if args.scaling else []
        )

        results = Results(
            host=host,
            partitions=args.partitions,
            generated=generated,
            produced=produced,
            raw=raw,
            validating=validating,
            svmon=single,
            group=group,
            quix=quix,
            raw_again=raw_again,
            restart=restarted,
            large_store=large_store,
            large_ready=large_ready,
            lists=lists,
            engine=engine,
            open_events=open_events,
            profiled=profiled,
            scaling=scaling,
            load_average_end=load_average(),
        )
        print("\n".join(lines(results)))
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _work_directory(stack: ExitStack, keep: bool) -> Path:
    """A temporary directory for logs and stores: removed when ``stack`` closes, unless ``keep``."""
    work = Path(tempfile.mkdtemp(prefix="svmon-bench-"))
    if keep:
        stack.callback(print, f"kept {work}")
    else:
        stack.callback(shutil.rmtree, work, True)
    return work


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every child process was stopped", file=sys.stderr)
        sys.exit(130)
