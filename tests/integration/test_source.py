"""``daemon.runtime.source.KafkaSource`` against real brokers: what it refuses to start with."""

from __future__ import annotations

import pytest

from daemon.config import KafkaSettings
from daemon.exceptions import SourceError
from daemon.runtime.source import KafkaSource, Partition
from tests.services import Broker, unique_name

pytestmark = pytest.mark.integration


class _Membership:
    """What the hooks were told, in order."""

    def __init__(self) -> None:
        self.owned: set[Partition] = set()
        self.events: list[str] = []

    def assigned(self, partitions: list[Partition]) -> None:
        self.owned = set(partitions)
        self.events.append(f"assigned {len(partitions)}")

    def revoked(self, partitions: list[Partition]) -> None:
        self.owned = set()
        self.events.append(f"revoked {len(partitions)}")

    def lost(self, partitions: list[Partition]) -> None:
        self.owned = set()
        self.events.append(f"lost {len(partitions)}")


def _settings(broker: Broker) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap,
        group_id=unique_name("g"),
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=10000,
    )


def test_a_missing_topic_is_named_at_start(any_broker: Broker) -> None:
    """Subscribing to a topic the brokers do not have fails at once, naming the topic."""
    present, missing = unique_name("present"), unique_name("missing")
    any_broker.create_topics([present], partitions=1)
    membership = _Membership()
    with pytest.raises(SourceError, match=f"topics not found on the brokers: {missing}"):
        KafkaSource(
            _settings(any_broker).consumer_kwargs(),
            [present, missing],
            on_assigned=membership.assigned,
            on_revoked=membership.revoked,
            on_lost=membership.lost,
        )
