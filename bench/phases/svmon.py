"""``svmon run`` as a subprocess: alone, as one group of several instances, restarted, profiled.

A run is done when the offsets in its SQLite store reach the produced end offsets, and every phase
stops the processes it started before it returns, on an error or Ctrl-C too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.dataset import Partition, Topics, unique_group
from bench.host import cpu_seconds, peak_rss_mib, wait_until
from bench.phases.profiling import summarise_profile
from bench.process import Svmon, store_mib, stored_events, stored_offsets
from daemon.tools.broker import TansuBroker

_WANTED = {
    "supervision_checkpoint_duration_seconds_sum",
    "supervision_checkpoint_duration_seconds_count",
    "supervision_messages_consumed_total",
    "supervision_dlq_writes_total",
}
_CONSUMED = "supervision_messages_consumed_total"


@dataclass(frozen=True)
class SvmonRun:
    """One instance from start until its store holds every produced offset; checkpoints from /metrics."""

    messages: int
    seconds: float
    first_checkpoint_s: float  # until the store first held offsets
    first_checkpoint_messages: int  # how many offsets it held then
    peak_rss_mib: float | None
    cpu_seconds: float | None  # the process's CPU time (all threads) until caught up
    checkpoint_count: int
    checkpoint_seconds: float
    consumed: int
    dlq: int
    stop_seconds: float  # SIGTERM to exit, the final checkpoint included

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def rate_after_first_checkpoint(self) -> float:
        return self.messages / max(self.seconds - self.first_checkpoint_s, 1e-9)

    @property
    def us_per_msg(self) -> float:
        """Start to caught up, per message: start-up included, which weighs more on a small run."""
        return 1e6 * self.seconds / self.messages

    @property
    def us_per_msg_after_first_checkpoint(self) -> float | None:
        """The marginal cost: the time after the first checkpoint over the messages stored after it
        (``rate_after_first_checkpoint`` counts all messages, so it flatters a run of few)."""
        after = self.messages - self.first_checkpoint_messages
        return None if after <= 0 else 1e6 * (self.seconds - self.first_checkpoint_s) / after

    @property
    def cpu_us_per_msg(self) -> float | None:
        """CPU time per message, start-up included: the load-independent figure."""
        return None if self.cpu_seconds is None else 1e6 * self.cpu_seconds / self.messages


def run_svmon(svmon: Svmon, ends: dict[Partition, int]) -> SvmonRun:
    """Start svmon, wait until its store holds every produced offset, read its metrics, stop it."""
    started = time.perf_counter()
    svmon.start()
    try:
        first_s, first_messages = _wait_for_store([svmon], ends, started, "svmon's store")
        elapsed = time.perf_counter() - started
        rss = peak_rss_mib(svmon.pid)
        cpu = cpu_seconds(svmon.pid)
        sums = svmon.metrics(_WANTED) or dict.fromkeys(_WANTED, float("nan"))
        stopping = time.perf_counter()
        svmon.stop()
        stop_seconds = time.perf_counter() - stopping
    finally:
        svmon.stop(10)
    return SvmonRun(
        messages=sum(ends.values()),
        seconds=elapsed,
        first_checkpoint_s=elapsed if first_s is None else first_s,
        first_checkpoint_messages=first_messages,
        peak_rss_mib=rss,
        cpu_seconds=cpu,
        checkpoint_count=int(sums["supervision_checkpoint_duration_seconds_count"]),
        checkpoint_seconds=sums["supervision_checkpoint_duration_seconds_sum"],
        consumed=int(sums[_CONSUMED]),
        dlq=int(sums["supervision_dlq_writes_total"]),
        stop_seconds=stop_seconds,
    )


@dataclass(frozen=True)
class GroupRun:
    """Several instances in one consumer group on one SQLite store, until it holds every offset."""

    instances: int
    messages: int
    seconds: float
    consumed: int  # by all of them together, from their /metrics

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def run_group(
    broker: TansuBroker, topics: Topics, work: Path, ends: dict[Partition, int], instances: int
) -> GroupRun:
    """Start ``instances`` svmon processes in one group on ``work/group.db``; stop them when caught up."""
    group = unique_group("bench-group")
    members = []
    for number in range(instances):
        member_dir = work / f"instance-{number}"
        member_dir.mkdir()
        members.append(Svmon(broker.bootstrap, work / "group.db", topics, member_dir, group))
    started = time.perf_counter()
    try:
        for member in members:
            member.start()
        _wait_for_store(members, ends, started, "the instances' store")
        elapsed = time.perf_counter() - started
        consumed = 0
        for member in members:
            sums = member.metrics({_CONSUMED})
            if sums is not None:
                consumed += int(sums[_CONSUMED])
            member.stop()
    finally:
        for member in members:
            member.stop(10)
    return GroupRun(instances, sum(ends.values()), elapsed, consumed)


def _wait_for_store(
    members: list[Svmon], ends: dict[Partition, int], started: float, what: str
) -> tuple[float | None, int]:
    """Wait until the members' shared store holds ``ends``; seconds from ``started`` until it first
    held any offsets (``None`` only when ``ends`` asked for none), and how many it held then."""
    first: float | None = None
    first_messages = 0

    def caught_up() -> bool:
        nonlocal first, first_messages
        for member in members:
            member.alive()
        offsets = stored_offsets(members[0].store)
        if offsets and first is None:
            first = time.perf_counter() - started
            first_messages = sum(offsets.values())
        return all(offsets.get(tp, 0) >= end for tp, end in ends.items())

    wait_until(caught_up, 3600, f"{what} to reach the produced end offsets", interval=0.05)
    return first, first_messages


@dataclass(frozen=True)
class Ready:
    """A restart on an existing store: seconds until ``/readyz`` answers 200, and the RSS then."""

    seconds: float
    rss_mib: float | None


def restart_to_ready(svmon: Svmon) -> Ready:
    """Start svmon on its existing store, wait for ``/readyz`` 200, stop it."""
    started = time.perf_counter()
    svmon.start()
    try:
        wait_until(lambda: svmon.alive() and svmon.get("/readyz")[0] == 200, 300, "svmon /readyz 200", 0.05)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mib(svmon.pid)
        svmon.stop()
    finally:
        svmon.stop(10)
    return Ready(elapsed, rss)


@dataclass(frozen=True)
class Restart:
    """What the store of a finished run holds, and how long a restart on it takes to be ready."""

    store_events: int
    store_events_resident: int
    store_mib: float
    ready: Ready


def restart(svmon: Svmon) -> Restart:
    """Restart ``svmon`` on the store its last run left."""
    total, resident = stored_events(svmon.store)
    mib = store_mib(svmon.store)
    return Restart(total, resident, mib, restart_to_ready(svmon))


@dataclass(frozen=True)
class Profiled:
    """A run under cProfile, and the profile summarised per message."""

    run: SvmonRun
    summary: list[str]


def run_profiled(
    broker: TansuBroker, topics: Topics, work: Path, ends: dict[Partition, int], path: Path
) -> Profiled:
    """One more instance on a fresh store, under cProfile writing to ``path``."""
    svmon = Svmon(
        broker.bootstrap,
        work / "profiled.db",
        topics,
        work,
        unique_group("bench-profile"),
        profile_to=path.resolve(),
    )
    run = run_svmon(svmon, ends)
    return Profiled(run, summarise_profile(path, run.messages))


@dataclass(frozen=True)
class Restarts:
    """Several restarts on one store: the median is the figure, the spread says how far to trust it."""

    runs: tuple[Ready, ...]

    @property
    def median(self) -> Ready:
        """The middle run by seconds (the upper of the two middle ones for an even count)."""
        return sorted(self.runs, key=lambda ready: ready.seconds)[len(self.runs) // 2]


def restart_on_store(
    broker: TansuBroker, topics: Topics, store: Path, work: Path, times: int = 3
) -> Restarts:
    """Start svmon on a store it did not write (``bench.phases.engine.build_large_store``) until ready,
    ``times`` times, each in a group of its own.

    More than once because one start's figure moved by 2 s on the same machine (4.7 s inside ``make
    bench``, 2.5 s three times in a script of its own minutes later; what slowed that one start was
    not found). Most of any start is the broker's group join, which svmon waits out like every
    consumer: Tansu answers a JoinGroup after about half the session timeout (3 s here).
    """
    return Restarts(
        tuple(
            restart_to_ready(Svmon(broker.bootstrap, store, topics, work, unique_group("bench-large")))
            for _ in range(times)
        )
    )
