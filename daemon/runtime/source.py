"""The Kafka consumer: subscription, rebalance hooks, polling, seeking, lag (the DLQ producer: ``dlq``).

kafka-python 3.x runs rebalance callbacks on its I/O thread, which also drives heartbeats, so the
listener here only forwards to the app's hooks, which keep their work short (seek + pause; state is
restored on the main loop). Offsets live in the checkpoint store: on assignment the app seeks to the
stored next offset, which wins because the client only fetches committed offsets for partitions
without a position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from daemon.core.prepare import Message
from daemon.exceptions import SourceError

Partition = tuple[str, int]
# The app retries a failed start with backoff; a short bootstrap wait keeps it responsive to SIGTERM
# (kafka-python's default blocks for 30 s while the broker is away).
BOOTSTRAP_TIMEOUT_MS = 2000
Hook = Callable[[list[Partition]], None]


class Source(Protocol):
    """What the runtime needs of a consumer: the seam tests replace with a fake."""

    def poll(self, timeout_ms: int, max_records: int) -> list[Message]:
        """One bounded poll; ``SourceError`` for a client error (nothing was handed out then)."""

    def seek(self, partition: Partition, offset: int | None) -> None:
        """Position a partition at ``offset``, or at its beginning when None."""

    def pause(self, partitions: Iterable[Partition]) -> None: ...

    def resume(self, partitions: Iterable[Partition]) -> None: ...

    def assignment(self) -> list[Partition]: ...

    def commit(self, offsets: dict[Partition, int]) -> None:
        """Tell the broker what was checkpointed (for lag tools; the store holds the truth)."""

    def lag(self, checkpointed: dict[Partition, int]) -> dict[Partition, int]:
        """Messages between each assigned partition's checkpointed offset and its end."""

    def brokers(self) -> list[str]:
        """``host:port`` of the cluster's brokers as the client's metadata lists them."""

    def close(self) -> None: ...


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, assigned: Hook, revoked: Hook, lost: Hook, rejoin: Callable[[], None]) -> None:
        self._assigned, self._revoked, self._lost = assigned, revoked, lost
        self._rejoin = rejoin

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._assigned([(tp.topic, tp.partition) for tp in assigned])

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # kafka-python 3.0.12 can lose the assignment of a rejoin it starts itself because the
        # metadata changed (partitions added; a topic's metadata completing just after creation):
        # if the poll that started the join returns before it completes, the leader's own
        # assignment marks the metadata as seen, the next poll finds nothing left to rejoin for,
        # and the finished SyncGroup is never applied. The member stays in the group, heartbeats,
        # and owns nothing, forever. Flagging the rejoin explicitly keeps it pending until the
        # assignment is applied (tests/integration/test_source.py reproduces it).
        self._rejoin()
        self._revoked([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        self._lost([(tp.topic, tp.partition) for tp in lost])


class KafkaSource:
    """A consumer group member over the configured topics, offsets managed by the caller."""

    def __init__(
        self,
        consumer_kwargs: dict[str, Any],
        topics: Sequence[str],
        *,
        on_assigned: Hook,
        on_revoked: Hook,
        on_lost: Hook,
    ) -> None:
        try:
            # Range assignment gives one member the same partition numbers of co-partitioned topics
            # (inspections + catalogue, disclosures + requests): the state of a scope needs both.
            self._consumer = KafkaConsumer(
                **consumer_kwargs,
                partition_assignment_strategy=[RangePartitionAssignor],
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            )
            # Know every topic before joining: a group leader whose metadata lacks a topic assigns
            # none of its partitions (kafka-python's range assignor logs "No partition metadata")
            # and nothing makes it look again for minutes. Seen on a 3-node cluster right after a
            # node restart. A topic missing on the brokers is a problem to name, not to wait out.
            missing = [topic for topic in topics if not self._consumer.partitions_for_topic(topic)]
            if missing:
                self._consumer.close(autocommit=False)
                raise SourceError(
                    f"topics not found on the brokers: {', '.join(missing)} "
                    "(create them, or correct kafka.topics.*)"
                )
            listener = _Listener(on_assigned, on_revoked, on_lost, self._request_rejoin)
            self._consumer.subscribe(topics=list(topics), listener=listener)
        except KafkaError as exc:
            raise SourceError(f"cannot start the Kafka consumer: {exc}") from exc

    def _request_rejoin(self) -> None:
        coordinator = getattr(self._consumer, "_coordinator", None)
        request = getattr(coordinator, "request_rejoin", None)
        if request is not None:  # absent in a kafka-python that reorganised its internals
            request()

    def poll(self, timeout_ms: int, max_records: int) -> list[Message]:
        """One bounded poll; a client error (e.g. from a rebalance) becomes ``SourceError``."""
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            raise SourceError(f"polling Kafka failed: {exc}") from exc
        messages: list[Message] = []
        for records in batches.values():
            messages.extend(
                Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in records
            )
        return messages

    def seek(self, partition: Partition, offset: int | None) -> None:
        """Position a partition at ``offset``, or at its beginning when nothing was stored yet."""
        tp = TopicPartition(*partition)
        if offset is None:
            self._consumer.seek_to_beginning(tp)
        else:
            self._consumer.seek(tp, offset)

    def pause(self, partitions: Iterable[Partition]) -> None:
        self._consumer.pause(*[TopicPartition(*p) for p in partitions])

    def resume(self, partitions: Iterable[Partition]) -> None:
        self._consumer.resume(*[TopicPartition(*p) for p in partitions])

    def assignment(self) -> list[Partition]:
        return [(tp.topic, tp.partition) for tp in self._consumer.assignment()]

    def commit(self, offsets: dict[Partition, int]) -> None:
        """Tell Kafka what was checkpointed, for lag tools only; the store's offsets are the truth.

        Asynchronous: a slow or frozen broker must not hold the loop (or a shutdown) on a commit
        nobody depends on.
        """
        if offsets:
            self._consumer.commit_async(
                {
                    TopicPartition(*p): OffsetAndMetadata(offset=o, metadata="", leader_epoch=-1)
                    for p, o in offsets.items()
                }
            )

    def lag(self, checkpointed: dict[Partition, int]) -> dict[Partition, int]:
        """Messages between each assigned partition's checkpointed offset and its end offset.

        Measured from what is durable, not from what was polled: the same figure as
        ``kafka-consumer-groups --describe`` (svmon commits its checkpointed offsets to Kafka), and
        what a crash would replay. A partition never checkpointed counts from its beginning.
        """
        partitions = [TopicPartition(*p) for p in self.assignment()]
        if not partitions:
            return {}
        ends = self._consumer.end_offsets(partitions, timeout_ms=2000)
        fresh = [tp for tp in partitions if (tp.topic, tp.partition) not in checkpointed]
        starts = self._consumer.beginning_offsets(fresh, timeout_ms=2000) if fresh else {}
        lag = {}
        for tp, end in ends.items():
            where = (tp.topic, tp.partition)
            position = checkpointed[where] if where in checkpointed else starts.get(tp, 0)
            # Tansu reports the base offset of the last batch as the end offset, so the difference can
            # be negative while the partition is fully read; clamp rather than export a negative lag.
            lag[where] = max(0, end - position)
        return lag

    def brokers(self) -> list[str]:
        """``host:port`` of every broker in the client's cluster metadata (the bootstrap list until known).

        kafka-python has no public accessor for its metadata; this reads it where the consumer
        keeps it, and answers nothing rather than fail if a later release moves it.
        """
        cluster: Any = getattr(self._consumer, "_cluster", None)
        try:
            return sorted(f"{broker.host}:{broker.port}" for broker in cluster.brokers())
        except Exception:  # no such attribute any more, or a metadata update racing this read
            return []

    def close(self) -> None:
        with suppress(Exception):
            self._consumer.close(autocommit=False)  # never commit what was polled but not checkpointed
