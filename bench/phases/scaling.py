"""``--scaling``: svmon alone at other sizes, to see whether its cost per message grows with history.

Each size gets a scenario of its own (the same seed at the matching scale: more days of history, so
more closed events in the store, not only more open ones), a Tansu broker of its own (so no size
reads a broker already holding the others' data) and a fresh store; svmon then runs exactly as in
the main phase (``run_svmon``). The figure to compare is µs per message after the first checkpoint:
start-up (interpreter, group join) is a fixed cost that a 100k run would otherwise spread over few
messages. The raw consumer reads each size just before svmon does, so that svmon's cost can be read
against the machine's speed at that moment (a 3M run lasts long enough for the load to change), and
what the store holds at the end is reported beside it, because svmon's cost should follow the open
entities, not the events the store has seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import Topics, generate_messages, produce, unique_group
from bench.phases.consume import Consumed, consume_raw
from bench.phases.svmon import SvmonRun, run_svmon
from bench.process import Svmon, stored_events
from daemon.tools.broker import TansuBroker

SIZES = (100_000, 3_000_000)  # besides the main run's --messages


@dataclass(frozen=True)
class ScalingRun:
    """svmon on one size of the scenario, on a broker and store of its own."""

    generate_seconds: float
    produce_seconds: float
    raw: Consumed  # the raw consumer on the same broker, just before svmon
    svmon: SvmonRun
    store_events: int
    store_events_resident: int


def run_scaling(
    sizes: tuple[int, ...], seed: int, partitions: int, work: Path, say: Callable[[str], None]
) -> list[ScalingRun]:
    """One :class:`ScalingRun` per size, in the order given."""
    return [_run_size(size, seed, partitions, work, say) for size in sizes]


def _run_size(size: int, seed: int, partitions: int, work: Path, say: Callable[[str], None]) -> ScalingRun:
    directory = work / f"scaling-{size}"
    directory.mkdir()
    messages, generated = generate_messages(size, seed)
    with TansuBroker(log_path=directory / "tansu.log") as broker:
        topics = Topics.create(broker, partitions)
        produced = produce(broker, topics, messages)
        del messages
        ends = produced.ends
        produced.placed.clear()  # for the in-process phases only; a 3M run holds no copy it does not use
        say(f"scaling: {generated.messages:,} messages generated and produced")
        raw = consume_raw(broker, topics, produced.total, topics.settings().kafka.max_poll_records)
        svmon = Svmon(
            broker.bootstrap, directory / "svmon.db", topics, directory, unique_group("bench-scaling")
        )
        run = run_svmon(svmon, ends)
    total, resident = stored_events(svmon.store)
    steady = run.us_per_msg_after_first_checkpoint
    say(
        f"scaling: svmon at {run.messages:,} messages: {run.rate:,.0f} msgs/s,"
        f" {float('nan') if steady is None else steady:.1f} µs/msg after the first checkpoint;"
        f" raw consumer {1e6 / raw.rate_after_first_message:.1f} µs/msg after its first message"
    )
    return ScalingRun(generated.seconds, produced.seconds, raw, run, total, resident)
