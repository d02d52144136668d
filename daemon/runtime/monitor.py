"""Watching from the side: the probe thread (broker, cluster, store) and the loop's lag and progress.

The probe thread asks every ``PROBE_EVERY_S`` whether a bootstrap broker answers the way svmon is
configured to reach it (``daemon.runtime.probe``), whether every broker the cluster's metadata lists
answers, and whether the store does; each answer is reported under its own readiness owner. Lag and
progress need the consumer, which belongs to the consumer loop, so :class:`LoopWatch` runs there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from daemon.config import KafkaSettings
from daemon.exceptions import StoreError
from daemon.runtime.engine import Engine, Partition
from daemon.runtime.probe import ProbeSettings, broker_problem, unreachable_brokers
from daemon.runtime.readiness import Owner, Readiness
from daemon.runtime.source import Source

__all__ = ["LoopWatch", "ProbeThread", "probe_settings"]

log = structlog.get_logger("svmon.monitor")

PROBE_EVERY_S = 2.0
LAG_EVERY_S = 5.0
PROGRESS_EVERY_S = 10.0


def probe_settings(kafka: KafkaSettings) -> ProbeSettings:
    """What the probe needs of the Kafka settings to reach a broker the way the clients do."""
    return ProbeSettings(
        security_protocol=kafka.security_protocol,
        sasl_mechanism=kafka.sasl_mechanism,
        sasl_username=kafka.sasl_username,
        sasl_password=None if kafka.sasl_password is None else kafka.sasl_password.get_secret_value(),
        ssl_cafile=None if kafka.ssl_cafile is None else str(kafka.ssl_cafile),
        ssl_certfile=None if kafka.ssl_certfile is None else str(kafka.ssl_certfile),
        ssl_keyfile=None if kafka.ssl_keyfile is None else str(kafka.ssl_keyfile),
    )


class ProbeThread:
    """The daemon thread that keeps the broker, cluster and store owners of readiness current."""

    def __init__(self, kafka: KafkaSettings, readiness: Readiness, stop: threading.Event) -> None:
        self._bootstrap = kafka.bootstrap_server_list
        self._probe = probe_settings(kafka)
        self._readiness = readiness
        self._stop = stop
        self.engine: Engine | None = None  # once the store is open
        self.brokers: list[str] = []  # the cluster's brokers, as the consumer's metadata lists them
        self._thread = threading.Thread(target=self._run, name="svmon-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(PROBE_EVERY_S)

    def check(self) -> None:
        """One round of probes."""
        unreachable = broker_problem(self._bootstrap, self._probe)
        self._readiness.report(Owner.BROKER, unreachable)
        # A broker that died still leads its partitions until the controller fences it (seconds):
        # meanwhile those partitions are stuck, and the metadata still lists it. Once fenced it
        # drops out of the list and its partitions have new leaders.
        brokers = self.brokers
        down = unreachable_brokers(brokers, self._probe) if brokers and unreachable is None else []
        self._readiness.report(
            Owner.BROKERS,
            f"{len(down)} of {len(brokers)} brokers unreachable: {'; '.join(down)}" if down else None,
        )
        engine = self.engine
        if engine is not None:
            try:
                engine.ping_store()
            except StoreError as exc:
                self._readiness.report(Owner.STORE, str(exc))
            else:
                self._readiness.report(Owner.STORE, None)


class LoopWatch:
    """Lag (every ``LAG_EVERY_S``) and a progress line (every ``PROGRESS_EVERY_S``), on the consumer loop."""

    def __init__(
        self, engine: Engine, source: Source, probe: ProbeThread, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine, self._source, self._probe, self._clock = engine, source, probe, clock
        self.lag: dict[Partition, int] = {}
        self._next_lag = self._next_progress = clock()
        self._last_consumed = 0

    def tick(self) -> None:
        now = self._clock()
        if now >= self._next_lag:
            self._next_lag = now + LAG_EVERY_S
            self._update_lag()
        if now >= self._next_progress:
            self._next_progress = now + PROGRESS_EVERY_S
            consumed = self._engine.consumed_total
            log.info(
                "progress",
                consumed=consumed,
                rate_per_s=round((consumed - self._last_consumed) / PROGRESS_EVERY_S),
                rejected=self._engine.rejected_total,
                lag=sum(self.lag.values()),
            )
            self._last_consumed = consumed

    def _update_lag(self) -> None:
        self._probe.brokers = self._source.brokers()
        try:
            self.lag = self._source.lag(self._engine.checkpointed_offsets())
        except Exception as exc:
            log.debug("lag unavailable", error=str(exc))
